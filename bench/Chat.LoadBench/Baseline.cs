using System.Net;
using System.Runtime.InteropServices;
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
    private static readonly Ping Hello = new();

    public override Task<EmptyMessage> Empty(EmptyMessage request, ServerCallContext context) => Task.FromResult(Nothing);

    public override async Task PingPong(IAsyncStreamReader<Ping> requestStream, IServerStreamWriter<Ping> responseStream, ServerCallContext context)
    {
        while (await requestStream.MoveNext(context.CancellationToken))
            await responseStream.WriteAsync(requestStream.Current, context.CancellationToken);
    }

    public override async Task Hold(IAsyncStreamReader<Ping> requestStream, IServerStreamWriter<Ping> responseStream, ServerCallContext context)
    {
        await responseStream.WriteAsync(Hello, context.CancellationToken);
        while (await requestStream.MoveNext(context.CancellationToken)) { }
    }
}

/// <summary>
/// The baseline server: ASP.NET Core gRPC with only <see cref="BaselineService"/> and the fan-out baseline
/// (<see cref="FanoutBaselineService"/>, bench/Bench.Common), on a loopback port, HTTP/2.
/// </summary>
public sealed class BaselineHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BaselineHost(WebApplication app, string address) => (_app, Address) = (app, address);

    public string Address { get; }
    public BaselineHub Hub => _app.Services.GetRequiredService<BaselineHub>();

    /// <summary>Port 0: a free one.</summary>
    public static async Task<BaselineHost> StartAsync(int port, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<BaselineHub>();
        var app = builder.Build();
        app.MapGrpcService<BaselineService>();
        app.MapGrpcService<FanoutBaselineService>();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new BaselineHost(app, address);
    }

    /// <summary>
    /// <c>Chat.LoadBench --serve-baseline PORT</c>: the baseline server alone, in a process of its own, so that the connections
    /// scenario can measure its memory as it measures the stack's. Prints "listening ADDRESS", then serves until its standard
    /// input closes (the benchmark ended, or died) or it gets SIGTERM/SIGINT.
    /// </summary>
    public static async Task<int> ServeAsync(int port)
    {
        using var stop = new CancellationTokenSource();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        await using var host = await StartAsync(port, stop.Token);
        Console.WriteLine($"listening {host.Address}");
        var stdin = Task.Run(() =>
        {
            while (Console.In.ReadLine() is not null) { }
        });
        await Task.WhenAny(stdin, Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default));
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await _app.StopAsync(timeout.Token); }
        catch (Exception e) { Console.Error.WriteLine($"Stopping the baseline server: {e.Message}"); }
        await _app.DisposeAsync();
    }
}
