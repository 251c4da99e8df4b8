using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using V1 = Chat.Api.V1;

namespace Chat.Chaos;

/// <summary>
/// --failover: three silos, one gateway, one sender per database (unary SendMessage, one call at a time, a 60 s deadline
/// so that a hang shows at its full length). Kills one silo at a time (round robin), measures how long until every
/// database's sends succeed again and how long the longest call caught by the kill waited, restarts it, lets it settle.
/// </summary>
public sealed class FailoverRun(int databases, int kills, IReadOnlyDictionary<string, string> settings, RunFolder run, Stopwatch clock)
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(60);

    private sealed record Call(int Database, TimeSpan Start, TimeSpan End, StatusCode Code);

    private readonly ConcurrentQueue<Call> _calls = new();

    private void Log(string line) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed.TotalSeconds,7:0.0}s] {line}"));

    public async Task<int> RunAsync(Action<Stack> started, CancellationToken cancellationToken)
    {
        await using var stack = await Stack.StartAsync(run, silos: 3, gateways: 1, settings, Log, cancellationToken);
        started(stack);
        using var channel = Clients.Channel(stack.Gateways[0].GrpcAddress);
        var chat = new V1.Chat.ChatClient(channel);
        var admin = new V1.Databases.DatabasesClient(channel);
        var owner = await chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: cancellationToken);
        var names = Enumerable.Range(1, databases).Select(i => $"failover-{i}").ToList();
        foreach (var name in names)
            await admin.PublishAsync(new V1.PublishRequest { Database = name, Settings = new V1.DatabaseSettings { MessagesPerSecond = 0 } },
                Clients.Bearer(owner.Token), DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken);
        Log($"{databases} databases published; one sender each; settings: {(settings.Count == 0 ? "as shipped" : string.Join(" ", settings.Select(p => $"{p.Key}={p.Value}")))}");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var senders = names.Select((name, i) => Task.Run(() => SendAsync(chat, owner.Token, name, i, stop.Token))).ToList();
        var rows = new List<(int Kill, string Silo, TimeSpan Window, int Affected, TimeSpan Longest, string LongestEnded)>();
        try
        {
            await SettleAsync(stack, cancellationToken);
            for (var k = 0; k < kills; k++)
            {
                var victim = stack.Silos[k % stack.Silos.Count];
                var killedAt = clock.Elapsed;
                victim.Kill();
                Log($"kill #{k + 1}: kill -9 {victim.Name}");
                // Every database served again: a call that started after the kill succeeded. Bounded.
                var recovered = new TimeSpan?[databases];
                var waitClock = Stopwatch.StartNew();
                while (recovered.Any(r => r is null) && waitClock.Elapsed < TimeSpan.FromSeconds(120))
                {
                    foreach (var call in _calls.Where(c => c.Start >= killedAt && c.Code == StatusCode.OK))
                        if (recovered[call.Database] is null || call.End - killedAt < recovered[call.Database]) recovered[call.Database] = call.End - killedAt;
                    await Task.Delay(100, cancellationToken);
                }
                var window = recovered.Max() ?? TimeSpan.FromSeconds(120);
                // Calls caught by the kill: in flight at the kill or started before their database recovered.
                await Task.Delay(500, cancellationToken);
                var caught = _calls.Where(c => c.End >= killedAt && c.Start <= killedAt + (recovered[c.Database] ?? window)).ToList();
                var longest = caught.OrderByDescending(c => c.End - c.Start).FirstOrDefault();
                var affected = recovered.Count(r => r is null || r > TimeSpan.FromSeconds(1));
                rows.Add((k + 1, victim.Name, window, affected, longest is null ? TimeSpan.Zero : longest.End - longest.Start, longest?.Code.ToString() ?? "-"));
                Log(string.Create(CultureInfo.InvariantCulture, $"kill #{k + 1}: every database served again after {window.TotalSeconds:0.0} s; longest call {rows[^1].Longest.TotalSeconds:0.0} s ({rows[^1].LongestEnded})"));
                await stack.StartNodeAsync(victim, cancellationToken);
                await SettleAsync(stack, cancellationToken);
            }
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(senders);
        }

        Console.WriteLine();
        Console.WriteLine($"failover: 3 silos, 1 gateway, {databases} databases with one sender each, {kills} kills (kill -9, round robin)");
        Console.WriteLine("kill | silo  | all databases served again after | databases affected (>1 s) | longest single call | it ended");
        Console.WriteLine("-----+-------+----------------------------------+---------------------------+---------------------+---------");
        foreach (var r in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Kill,4} | {r.Silo,-5} | {r.Window.TotalSeconds,30:0.0} s | {r.Affected,25} | {r.Longest.TotalSeconds,17:0.0} s | {r.LongestEnded}"));
        var windows = rows.Select(r => r.Window.TotalSeconds).Order().ToList();
        var longestCalls = rows.Select(r => r.Longest.TotalSeconds).Order().ToList();
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"service back after a kill: p50 {Percentile(windows, 0.5):0.0} s, max {windows.LastOrDefault():0.0} s; longest single call: p50 {Percentile(longestCalls, 0.5):0.0} s, max {longestCalls.LastOrDefault():0.0} s"));
        var failures = _calls.Where(c => c.Code != StatusCode.OK).GroupBy(c => c.Code).Select(g => $"{g.Key} {g.Count()}");
        Console.WriteLine($"calls: {_calls.Count(c => c.Code == StatusCode.OK)} ok, failed: {string.Join(", ", failures.DefaultIfEmpty("none"))}");
        stack.Keep = false;
        return 0;
    }

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? 0 : sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(p * sorted.Count))];

    /// <summary>Every silo ready, then every database served within the last second, for 3 s in a row (bounded).</summary>
    private async Task SettleAsync(Stack stack, CancellationToken cancellationToken)
    {
        await stack.HealAsync(cancellationToken);
        var settle = Stopwatch.StartNew();
        var healthySince = TimeSpan.MaxValue;
        while (settle.Elapsed < TimeSpan.FromSeconds(60))
        {
            var now = clock.Elapsed;
            var served = _calls.Where(c => c.Code == StatusCode.OK && c.End > now - TimeSpan.FromSeconds(1)).Select(c => c.Database).Distinct().Count();
            if (served == databases) { if (healthySince == TimeSpan.MaxValue) healthySince = now; }
            else healthySince = TimeSpan.MaxValue;
            if (healthySince != TimeSpan.MaxValue && now - healthySince > TimeSpan.FromSeconds(3)) return;
            await Task.Delay(200, cancellationToken);
        }
        Log("did not settle within 60 s; going on");
    }

    private async Task SendAsync(V1.Chat.ChatClient chat, string token, string database, int index, CancellationToken stop)
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var key = $"{database}-m{n}";
            while (!stop.IsCancellationRequested)
            {
                var start = clock.Elapsed;
                var code = StatusCode.OK;
                try
                {
                    await chat.SendMessageAsync(new V1.SendMessageRequest { Database = database, Text = key, IdempotencyKey = key },
                        Clients.Bearer(token), DateTime.UtcNow + CallDeadline, stop);
                }
                catch (RpcException e)
                {
                    code = e.StatusCode;
                }
                if (stop.IsCancellationRequested) return;
                _calls.Enqueue(new Call(index, start, clock.Elapsed, code));
                if (code == StatusCode.OK) break;
                try { await Task.Delay(50, stop); } catch (OperationCanceledException) { return; }
            }
            try { await Task.Delay(20, stop); } catch (OperationCanceledException) { return; }
        }
    }
}
