using System.Net;
using Chat.LoadBench.Proto;
using Grpc.Core;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Chat.LoadBench;

/// <summary>The raw gRPC baseline: nothing behind the calls.</summary>
public sealed class BaselineService : LoadBaseline.LoadBaselineBase
{
    private static readonly EmptyMessage Nothing = new();

    public override Task<EmptyMessage> Empty(EmptyMessage request, ServerCallContext context) => Task.FromResult(Nothing);

    public override async Task PingPong(IAsyncStreamReader<Ping> requestStream, IServerStreamWriter<Ping> responseStream, ServerCallContext context)
    {
        while (await requestStream.MoveNext(context.CancellationToken))
            await responseStream.WriteAsync(requestStream.Current, context.CancellationToken);
    }
}

/// <summary>The baseline server: ASP.NET Core gRPC with only <see cref="BaselineService"/>, on its own loopback port, HTTP/2.</summary>
public sealed class BaselineHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BaselineHost(WebApplication app, string address) => (_app, Address) = (app, address);

    public string Address { get; }

    public static async Task<BaselineHost> StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<BaselineService>();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new BaselineHost(app, address);
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await _app.StopAsync(timeout.Token); }
        catch (Exception e) { Console.Error.WriteLine($"Stopping the baseline server: {e.Message}"); }
        await _app.DisposeAsync();
    }
}
