using System.Net;
using System.Net.Sockets;
using Chat.Frontend;
using Chat.Frontend.Delivery;
using Chat.Grains;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Orleans.Configuration;
using V1 = Chat.Api.V1;

namespace Chat.Benchmarks;

/// <summary>
/// The stack under test for the gateway benchmarks, co-hosted as src/Silo runs it: one Orleans silo with the chat grains on the given
/// PostgreSQL, and the gRPC gateway in the same ASP.NET Core app, on Kestrel, HTTP/2, a free loopback port.
/// </summary>
public sealed class StackHost : IAsyncDisposable
{
    public const int StreamsPerChannel = 100; // Kestrel's default MaxStreamsPerConnection

    private readonly WebApplication? _app;
    private readonly GrpcChannel _control;

    private StackHost(WebApplication? app, string address)
    {
        (_app, Address) = (app, address);
        _control = GrpcChannel.ForAddress(address);
        Chat = new V1.Chat.ChatClient(_control);
        Databases = new V1.Databases.DatabasesClient(_control);
    }

    public string Address { get; }
    public V1.Chat.ChatClient Chat { get; }
    public V1.Databases.DatabasesClient Databases { get; }

    /// <summary>A stack already running elsewhere on this machine, reached at its gateway address; disposing it stops nothing.</summary>
    public static StackHost Running(string address) => new(null, address);

    public static async Task<StackHost> StartAsync(string connectionString, string clusterId, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear(); // nothing from appsettings or the environment: only what is set here
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Chat:Auth:SigningKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            // Room for every message of a round in each client's queue: the benchmark measures speed, not eviction.
            ["Chat:Gateway:SendQueueCapacity"] = "100000",
            ["Chat:Gateway:MaxConnectionsPerIdentity"] = "100000",
            ["Chat:Gateway:MaxConnections"] = "100000",
        });
        // Every benchmark client is 127.0.0.1, one client address, making thousands of identities and streams.
        builder.Configuration.AddInMemoryCollection(global::Chat.Frontend.Delivery.GatewayOptions.AddressLimitsLifted!);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId));
            // Free ports, so that a developer's silo (11111/30000) can keep running; no Orleans gateway, the gateway is co-hosted.
            silo.ConfigureEndpoints(IPAddress.Loopback, FreePort(), gatewayPort: 0);
            silo.UseChatClustering(connectionString, global::Chat.ClusterCredentials.CreateEphemeral()); // one silo and no Orleans client: nobody else to trust
            silo.AddChat(connectionString);
        });
        builder.Services.AddChatGateway(builder.Configuration);
        var app = builder.Build();
        app.MapChatGateway();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new StackHost(app, address);
    }

    public async ValueTask DisposeAsync()
    {
        _control.Dispose();
        if (_app is null) return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await _app.StopAsync(timeout.Token); }
        catch (Exception e) { Console.Error.WriteLine($"Stopping the silo and gateway: {e.Message}"); }
        await _app.DisposeAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
