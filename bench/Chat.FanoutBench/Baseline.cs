using System.Diagnostics;
using System.Net;
using Chat.Benchmarks.Proto;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ServerMessage = Chat.Api.V1.ServerMessage;

namespace Chat.FanoutBench;

/// <summary>The baseline server: ASP.NET Core gRPC with only <see cref="FanoutBaselineService"/> (bench/Bench.Common), on its own loopback port, HTTP/2.</summary>
public sealed class BaselineHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BaselineHost(WebApplication app, string address) => (_app, Address) = (app, address);

    public string Address { get; }
    public BaselineHub Hub => _app.Services.GetRequiredService<BaselineHub>();

    public static async Task<BaselineHost> StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<BaselineHub>();
        var app = builder.Build();
        app.MapGrpcService<FanoutBaselineService>();
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

/// <summary>N Listen streams (one channel per 100, as on the stack side) and their readers.</summary>
public sealed class BaselineClients : StreamClients<AsyncServerStreamingCall<ServerMessage>>
{
    private BaselineClients(int count, string address) : base(count, address) { }

    public static async Task<BaselineClients> OpenAsync(string address, Round round, CancellationToken cancellationToken)
    {
        var count = round.Receivers.Length;
        var clients = new BaselineClients(count, address);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
                async (i, token) => await clients.OpenOne(i, round.Receivers[i], token));
        }
        catch
        {
            await clients.DisposeAsync();
            throw;
        }
        return clients;
    }

    private async Task OpenOne(int i, Receiver receiver, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var client = new FanoutBaseline.FanoutBaselineClient(Channels[i / StackHost.StreamsPerChannel]);
        var call = Calls[i] = client.Listen(new ListenRequest(), cancellationToken: Abort.Token);
        if (!await call.ResponseStream.MoveNext(timeout.Token) || call.ResponseStream.Current.MessageCase != ServerMessage.MessageOneofCase.IdentityToken)
            throw new InvalidOperationException($"listener {i}: no hello first");
        // The reader outlives the opening (whose token only bounds the handshake); Abort is what ends it.
        Reading[i] = Task.Run(async () =>
        {
            try
            {
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    receiver.OnMessage(call.ResponseStream.Current);
            }
            catch (RpcException e) when (!Abort.IsCancellationRequested)
            {
                receiver.Fail($"the stream failed: {e.Status}");
            }
        }, CancellationToken.None);
    }

    /// <summary>After the hub has completed every queue: each stream must end cleanly.</summary>
    public Task WaitEndedAsync() => Task.WhenAll(Reading).WaitAsync(TimeSpan.FromSeconds(60));
}

/// <summary>The baseline's publisher: the same number of payloads at the same pace, each stamped just before it is queued.</summary>
public static class BaselinePublisher
{
    public static async Task<List<string>> PublishAsync(BaselineHub hub, string sender, Round round, double rate, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        await Pacer.RunAsync(round.Messages, rate, i =>
        {
            var stamp = Stopwatch.GetTimestamp();
            if (i == 0) round.FirstSend = stamp;
            round.LastSend = stamp;
            var full = hub.Publish(Payload.Update(sender, DateTime.UtcNow, Payload.Text(stamp, i), (ulong)i + 1));
            if (full > 0) problems.Add($"message {i}: {full} listener queues full");
            return Task.CompletedTask;
        }, cancellationToken);
        return problems;
    }
}
