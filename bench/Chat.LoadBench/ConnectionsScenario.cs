using Chat.Frontend.Delivery;
using System.Diagnostics;
using System.Globalization;
using Chat.LoadBench.Proto;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>C idle connections held by one side. Memory is the server process's resident set (VmRSS), each read after a forced full GC.</summary>
public sealed record IdleLevel(
    string Side,
    int Connections,
    int Opened,
    double ConnectSeconds,
    double ConnectsPerSecond,
    long RssBeforeKb,
    long RssHeldKb,
    double KbPerConnection,
    long RssAfterCloseKb,
    double CloseSeconds,
    double OfflineSeconds,
    long OnlineWhileHeld,
    long ConnectionRowsWhileHeld,
    bool GcForced,
    List<string> Problems);

public sealed record IdleResult(int Connections, IdleLevel Stack, IdleLevel Baseline);

/// <summary>
/// Scenario 3, connections: C idle anonymous Connect streams held open on the real stack binary (src/Silo, silo + gateway,
/// run as a process of its own so that its memory is not mixed with the benchmark's clients), against C idle bidi streams
/// on the bare gRPC server (this benchmark's <c>--serve-baseline</c> mode, also a process of its own).
/// </summary>
public sealed class ConnectionsScenario(Bench bench)
{
    /// <summary>Connects (and goodbyes) in flight at once.</summary>
    public const int Parallelism = 64;

    public async Task<List<IdleResult>> RunAsync()
    {
        var options = bench.Options;
        var clock = Stopwatch.StartNew();
        var most = options.IdleConnections.Max();
        Console.WriteLine($"== connections: {string.Join(", ", options.IdleConnections.Select(c => c.ToString("N0", CultureInfo.InvariantCulture)))} idle streams " +
                          $"({StackHost.StreamsPerChannel} per HTTP/2 connection, {Parallelism} connecting at a time); memory = server process VmRSS after a forced full GC");
        // One socket per 100 streams on each side, plus PostgreSQL's, the silo's and the runtime's own: far below any usual limit.
        var files = ProcessMemory.OpenFilesLimit(Environment.ProcessId);
        var needed = most / StackHost.StreamsPerChannel + 500;
        Console.WriteLine($"open files limit (ulimit -n, inherited by the servers): {files}; about {needed} needed");
        if (files >= 0 && files < needed)
            throw new InvalidOperationException($"the open files limit {files} is too low for {most} connections: raise it with ulimit -n (at least {needed})");

        var silo = await ServerProcess.StackBinaryAsync(bench);
        var stack = new List<IdleLevel>();
        await using (var process = await ServerProcess.StartStackAsync(bench, silo, "chat-load-connections", RaisedLimits(most)))
        {
            var address = process.Address;
            using var control = GrpcChannel.ForAddress(address);
            var chat = new V1.Chat.ChatClient(control);
            var databases = new V1.Databases.DatabasesClient(control);
            var identity = await chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: bench.Cancel);
            var owner = new Metadata { { "authorization", "Bearer " + identity.Token } };
            Console.WriteLine($"stack process {process.Child.Pid} ({silo}) ready at {address} ({clock.Elapsed.TotalSeconds:0.0} s)");

            // First connections pay for JIT, pools and the first grain activations: not counted.
            await Bench.Publish(databases, owner, "idle-warmup", bench.Cancel);
            await Measure("stack", process, 200, StackOpener("idle-warmup"), "idle-warmup", warmup: true);
            foreach (var n in options.IdleConnections)
            {
                var database = $"idle-{n}";
                await Bench.Publish(databases, owner, database, bench.Cancel);
                stack.Add(await Measure("stack", process, n, StackOpener(database), database));
                if (process.Child.HasExited) throw new InvalidOperationException($"the stack process exited: {process.Child.Output}");
            }
            await process.StopAsync();
        }

        var baseline = new List<IdleLevel>();
        await using (var process = await ServerProcess.StartBaselineAsync(bench))
        {
            Console.WriteLine($"baseline process {process.Child.Pid} ready at {process.Address} ({clock.Elapsed.TotalSeconds:0.0} s)");
            await Measure("baseline", process, 200, BaselineOpener(), null, warmup: true);
            foreach (var n in options.IdleConnections)
                baseline.Add(await Measure("baseline", process, n, BaselineOpener(), null));
            await process.StopAsync();
        }

        foreach (var level in stack.Concat(baseline))
            bench.Problems.AddRange(level.Problems.Select(p => $"connections {level.Connections}, {level.Side}: {p}"));
        Console.WriteLine($"connections done ({clock.Elapsed.TotalSeconds:0} s)");
        return stack.Zip(baseline, (s, b) => new IdleResult(s.Connections, s, b)).ToList();
    }

    /// <summary>Opens one idle stream and waits for its first message; returns the call, to be completed later.</summary>
    private delegate Task<IdleCall> Opener(GrpcChannel channel, CancellationToken cancel);

    private sealed record IdleCall(Func<Task> Complete, Func<CancellationToken, Task<bool>> MoveNext, IDisposable Call);

    private static Opener StackOpener(string database) => async (channel, cancel) =>
    {
        var call = new V1.Chat.ChatClient(channel).Connect(new Metadata { { "database", database } }, cancellationToken: CancellationToken.None);
        if (!await call.ResponseStream.MoveNext(cancel) || call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
        {
            call.Dispose();
            throw new InvalidOperationException("no IdentityToken first");
        }
        return new IdleCall(() => call.RequestStream.CompleteAsync(), call.ResponseStream.MoveNext, call);
    };

    private static Opener BaselineOpener() => async (channel, cancel) =>
    {
        var call = new LoadBaseline.LoadBaselineClient(channel).Hold(cancellationToken: CancellationToken.None);
        if (!await call.ResponseStream.MoveNext(cancel))
        {
            call.Dispose();
            throw new InvalidOperationException("no hello first");
        }
        return new IdleCall(() => call.RequestStream.CompleteAsync(), call.ResponseStream.MoveNext, call);
    };

    private async Task<IdleLevel> Measure(string side, ServerProcess server, int n, Opener open, string? database, bool warmup = false)
    {
        var problems = new List<string>();
        var (gcForced, before) = await server.SettledRssAsync(bench.Cancel);
        var channels = Bench.Channels(server.Address, n);
        var calls = new IdleCall?[n];
        var failures = 0;
        string? firstFailure = null;
        var opening = Stopwatch.StartNew();
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = bench.Cancel },
                async (i, token) =>
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(60));
                    try
                    {
                        calls[i] = await open(channels[i / StackHost.StreamsPerChannel], timeout.Token);
                    }
                    catch (Exception e) when (e is RpcException or InvalidOperationException || e is OperationCanceledException && !token.IsCancellationRequested)
                    {
                        if (Interlocked.Increment(ref failures) == 1) firstFailure = $"connection {i}: {e.Message}";
                    }
                });
            var connectSeconds = opening.Elapsed.TotalSeconds;
            var opened = n - failures;
            if (failures > 0) problems.Add($"{failures} of {n} connections failed to open, first: {firstFailure}");

            long online = -1, rows = -1;
            if (database is not null)
            {
                (online, rows) = await Presence.Count(bench.Db, database);
                if (online != opened || rows != opened)
                    problems.Add($"{opened} connections open but {online} users online and {rows} rows in chat.connection");
            }
            var (gcHeld, held) = await server.SettledRssAsync(bench.Cancel);
            if (server.Child.HasExited) problems.Add($"the {side} process exited while the connections were held");

            // Goodbye on every stream: each must end cleanly, with nothing said in between.
            var closing = Stopwatch.StartNew();
            var unclean = 0;
            string? firstUnclean = null;
            await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = bench.Cancel },
                async (i, token) =>
                {
                    if (calls[i] is not { } call) return;
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(60));
                    try
                    {
                        await call.Complete();
                        if (await call.MoveNext(timeout.Token)) throw new InvalidOperationException("a message on an idle stream");
                    }
                    catch (Exception e) when (e is RpcException or InvalidOperationException || e is OperationCanceledException && !token.IsCancellationRequested)
                    {
                        if (Interlocked.Increment(ref unclean) == 1) firstUnclean = $"connection {i}: {e.Message}";
                    }
                });
            var closeSeconds = closing.Elapsed.TotalSeconds;
            if (unclean > 0) problems.Add($"{unclean} of {opened} streams did not end cleanly after the goodbye, first: {firstUnclean}");

            // Every user goes offline (identity_disconnected ran and committed) and every chat.connection row is gone.
            var offlineSeconds = double.NaN;
            if (database is not null)
            {
                while (true)
                {
                    var (stillOnline, stillRows) = await Presence.Count(bench.Db, database);
                    if (stillOnline == 0 && stillRows == 0)
                    {
                        offlineSeconds = closing.Elapsed.TotalSeconds;
                        break;
                    }
                    if (closing.Elapsed > TimeSpan.FromSeconds(60))
                    {
                        problems.Add($"60 s after the goodbyes {stillOnline} users are still online and {stillRows} chat.connection rows left");
                        break;
                    }
                    await Task.Delay(100, bench.Cancel);
                }
            }
            foreach (var call in calls) call?.Call.Dispose();
            foreach (var channel in channels) channel.Dispose();
            var (_, after) = await server.SettledRssAsync(bench.Cancel);

            var level = new IdleLevel(side, n, opened, connectSeconds, opened / connectSeconds, before, held, (held - before) / (double)Math.Max(1, opened), after,
                closeSeconds, offlineSeconds, online, rows, gcForced && gcHeld, problems);
            if (!warmup) Print(level);
            else if (problems.Count > 0) bench.Problems.AddRange(problems.Select(p => $"connections warm-up, {side}: {p}"));
            return level;
        }
        finally
        {
            foreach (var call in calls) call?.Call.Dispose();
            foreach (var channel in channels) channel.Dispose();
        }
    }

    private static void Print(IdleLevel l)
    {
        var presence = l.Side == "stack"
            ? $"; {l.OnlineWhileHeld} online, all offline {l.OfflineSeconds:0.0} s after the first goodbye"
            : "";
        Console.WriteLine($"   {l.Side,-8} {l.Opened,6} connected in {l.ConnectSeconds:0.00} s ({l.ConnectsPerSecond:0}/s); RSS {l.RssBeforeKb / 1024.0:0.0} -> " +
                          $"{l.RssHeldKb / 1024.0:0.0} MB = {l.KbPerConnection:0.0} KB per connection{(l.GcForced ? "" : " (GC not forced)")}; " +
                          $"closed in {l.CloseSeconds:0.00} s{presence}; RSS after closing {l.RssAfterCloseKb / 1024.0:0.0} MB" +
                          (l.Problems.Count == 0 ? "" : $"\n   !! {l.Problems.Count} problem(s): {l.Problems[0]}"));
    }

    /// <summary>Room for the most this run holds; all of them from 127.0.0.1, one client address, each a new identity.</summary>
    private static Dictionary<string, string> RaisedLimits(int most) => new(GatewayOptions.AsEnvironment(GatewayOptions.AddressLimitsLifted))
    {
        // The default is 10,000 connections per gateway: room for the most this run holds, plus the control calls.
        ["Chat__Gateway__MaxConnections"] = Math.Max(10_000, 2 * most).ToString(CultureInfo.InvariantCulture),
    };
}
