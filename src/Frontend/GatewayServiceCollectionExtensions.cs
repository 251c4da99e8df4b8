using Chat.Frontend.Delivery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Chat.Frontend;

/// <summary>Adds the gateway to an ASP.NET Core app that has an Orleans client (a standalone gateway) or a silo (co-hosted).</summary>
public static class GatewayServiceCollectionExtensions
{
    public static IServiceCollection AddChatGateway(this IServiceCollection services, IConfiguration configuration)
    {
        var gateway = configuration.GetSection("Chat:Gateway").Get<GatewayOptions>() ?? new GatewayOptions();
        services.AddOptions<GatewayOptions>().Bind(configuration.GetSection("Chat:Gateway"));
        services.AddOptions<AuthOptions>().Bind(configuration.GetSection("Chat:Auth"))
            // The key belongs to the stack's own data folder: two stacks with two folders must not accept each other's tokens.
            .PostConfigure(o =>
            {
                if (string.IsNullOrWhiteSpace(o.SigningKeyFile))
                    o.SigningKeyFile = AuthOptions.DefaultSigningKeyFile(configuration["Chat:DataDirectory"]);
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidation>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<Authentication>();
        services.AddSingleton<ConnectionRegistry>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<AddressLimits>();
        services.AddSingleton<SqlAdmission>();
        services.AddSingleton<KnownDatabases>();
        services.AddSingleton<LogFollowing>();
        services.AddSingleton<MessageSender>();
        services.AddSingleton<SubscriptionHub>();
        services.AddSingleton<Subscriptions>();
        services.AddSingleton<SessionRegistry>();
        services.AddHostedService(sp => sp.GetRequiredService<ConnectionRegistry>());
        services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = gateway.MaxRequestBytes;
            o.Interceptors.Add<ClusterFailureInterceptor>();
        });
        services.AddGrpcReflection();
        services.AddGrpcHealthChecks().AddCheck<ConnectionRegistry>("orleans-cluster");
        services.AddChatHttpApi();
        return services;
    }

    public static IEndpointRouteBuilder MapChatGateway(this IEndpointRouteBuilder app)
    {
        // gRPC-Web, for browsers: on any endpoint that speaks HTTP/1.1 (the HTTP port), beside plain gRPC on HTTP/2.
        if (app is IApplicationBuilder pipeline) pipeline.UseGrpcWeb();
        app.MapGrpcService<ChatService>().EnableGrpcWeb();
        app.MapGrpcService<DatabasesService>().EnableGrpcWeb();
        app.MapGrpcReflectionService();
        app.MapGrpcHealthChecksService();
        app.MapWebClient();
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapHealthChecks("/readyz");
        app.MapChatHttpApi();
        return app;
    }
}
