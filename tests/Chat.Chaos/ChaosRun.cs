using System.Diagnostics;
using System.Globalization;
using Npgsql;
using V1 = Chat.Api.V1;

namespace Chat.Chaos;

public sealed record ChaosOptions(int Seed, TimeSpan Load, int Faults, int Databases, int SendersPerDatabase, TimeSpan Pace,
    TimeSpan CallTimeout, TimeSpan GiveUpAfter, IReadOnlyDictionary<string, string> Settings);

/// <summary>
/// The chaos run: three silos, two gateways, senders and subscribers on both, faults on a seeded schedule, then the
/// checks. Returns the number of violations.
/// </summary>
public sealed class ChaosRun(ChaosOptions options, RunFolder run, Stopwatch clock)
{
    private void Log(string line) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed.TotalSeconds,7:0.0}s] {line}"));

    private readonly List<string> _executed = [];

    public async Task<int> RunAsync(Action<Stack> started, CancellationToken cancellationToken)
    {
        var schedule = FaultSchedule.Plan(options.Seed, options.Load, options.Faults, silos: 3, gateways: 2);
        Console.WriteLine($"seed {options.Seed}: {options.Load.TotalSeconds:0} s of load, {schedule.Count} faults planned");
        foreach (var fault in schedule) Console.WriteLine("  " + fault);

        await using var stack = await Stack.StartAsync(run, silos: 3, gateways: 2, options.Settings, Log, cancellationToken);
        started(stack);
        Log($"up: {string.Join(", ", stack.Nodes.Select(n => $"{n.Name} pid {n.Pid}"))}");
        var channels = stack.Gateways.Select(g => Clients.Channel(g.GrpcAddress)).ToList();
        try
        {
            return await RunLoadAsync(stack, schedule, channels.Select(c => new V1.Chat.ChatClient(c)).ToList(),
                new V1.Databases.DatabasesClient(channels[0]), cancellationToken);
        }
        finally
        {
            foreach (var channel in channels) channel.Dispose();
        }
    }

    private async Task<int> RunLoadAsync(Stack stack, List<Fault> schedule, List<V1.Chat.ChatClient> gateways, V1.Databases.DatabasesClient admin,
        CancellationToken cancellationToken)
    {
        // Identities and databases, the rate limit off.
        var owner = await gateways[0].CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: cancellationToken);
        var databases = Enumerable.Range(1, options.Databases).Select(i => $"chaos-{options.Seed}-{i}").ToList();
        foreach (var database in databases)
            await admin.PublishAsync(new V1.PublishRequest { Database = database, Settings = new V1.DatabaseSettings { MessagesPerSecond = 0 } },
                Clients.Bearer(owner.Token), DateTime.UtcNow.AddSeconds(30), cancellationToken);
        var senders = new List<Sender>();
        var subscribers = new List<Subscriber>();
        foreach (var database in databases)
        {
            for (var s = 0; s < options.SendersPerDatabase; s++)
            {
                var identity = await gateways[0].CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: cancellationToken);
                senders.Add(new Sender(senders.Count + 1, database, identity.Token, gateways, options.Seed * 1000 + senders.Count, options.CallTimeout, options.Pace));
            }
            for (var g = 0; g < gateways.Count; g++)
            {
                var identity = await gateways[0].CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: cancellationToken);
                subscribers.Add(new Subscriber(subscribers.Count + 1, database, identity.Token, gateways[g], stack.Gateways[g].Name));
            }
        }
        Log($"{databases.Count} databases, {senders.Count} senders, {subscribers.Count} subscribers (both gateways)");

        using var stopSubscribers = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var subscribing = subscribers.Select(s => Task.Run(() => s.RunAsync(stopSubscribers.Token))).ToList();
        await Task.Delay(1000, cancellationToken); // subscribed before the first message
        using var stopNew = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loadStart = clock.Elapsed;
        var sending = senders.Select(s => Task.Run(() => s.RunAsync(stopNew.Token, giveUp.Token))).ToList();
        var siloGate = new SemaphoreSlim(1, 1);
        var faults = schedule.Select(f => Task.Run(() => ExecuteAsync(stack, f, loadStart, siloGate, cancellationToken))).ToList();
        var progress = Task.Run(async () =>
        {
            while (!stopNew.IsCancellationRequested)
            {
                try { await Task.Delay(5000, stopNew.Token); } catch (OperationCanceledException) { break; }
                Log($"acknowledged {senders.Sum(s => s.Sent)}; down: {string.Join(", ", stack.Nodes.Where(n => !n.IsUp).Select(n => n.Name).DefaultIfEmpty(stack.PostgresUp ? "nothing" : ""))}{(stack.PostgresUp ? "" : " postgresql")}");
            }
        }, cancellationToken);

        await Task.Delay(options.Load, cancellationToken);
        await Task.WhenAll(faults);
        await stack.HealAsync(cancellationToken);
        Log("load over, every process up: senders finish their current message (no new ones)");
        stopNew.Cancel();
        await progress;
        giveUp.CancelAfter(options.GiveUpAfter);
        await Task.WhenAll(sending);
        var acknowledged = senders.Sum(s => s.Sent);
        Log($"senders done: {acknowledged} acknowledged, {senders.Sum(s => s.GaveUp.Count)} given up");

        // Quiet period: every subscriber's current session should reach the end of its database.
        var finalCounts = await CountsAsync(stack.ConnectionString, databases);
        var quiet = Stopwatch.StartNew();
        while (quiet.Elapsed < TimeSpan.FromSeconds(30) &&
               subscribers.Any(s => s.Current is not { SnapshotComplete: true } current || current.LastOffset < (ulong)finalCounts[s.Database]))
            await Task.Delay(200, cancellationToken);
        Log($"quiet period: subscribers caught up in {quiet.Elapsed.TotalSeconds:0.0} s " +
            $"({subscribers.Count(s => s.Current is { } c && c.LastOffset >= (ulong)finalCounts[s.Database])}/{subscribers.Count})");

        // Everyone says goodbye; then the janitor's timeout for connections whose gateway died with them.
        await Task.WhenAll(subscribers.Select(s => s.CloseAsync()));
        await Task.WhenAny(Task.WhenAll(subscribing), Task.Delay(TimeSpan.FromSeconds(10), cancellationToken));
        stopSubscribers.Cancel();
        await Task.WhenAll(subscribing);
        var presence = Stopwatch.StartNew();
        List<string> online;
        while ((online = await OnlineAsync(stack.ConnectionString, databases)).Count > 0 && presence.Elapsed < PresenceWait)
            await Task.Delay(250, cancellationToken);
        Log($"presence: {(online.Count == 0 ? $"nobody online after {presence.Elapsed.TotalSeconds:0.0} s" : $"{online.Count} still online after {presence.Elapsed.TotalSeconds:0} s")}");

        var rows = await RowsAsync(stack.ConnectionString, databases);
        var checks = new Checks(databases, rows, senders, subscribers, online);
        var violations = checks.Print(Console.Out);
        stack.Keep = violations > 0;

        Console.WriteLine();
        Console.WriteLine($"faults as executed (seed {options.Seed}):");
        lock (_executed) foreach (var line in _executed) Console.WriteLine("  " + line);
        Console.WriteLine($"retried calls by status: {string.Join(", ", senders.SelectMany(s => s.RetriedAfter).GroupBy(p => p.Key).Select(g => $"{g.Key} {g.Sum(p => p.Value)}").DefaultIfEmpty("none"))}");
        var slowest = senders.SelectMany(s => s.Acks).OrderByDescending(a => a.Latency).FirstOrDefault();
        if (slowest is not null)
            Console.WriteLine($"slowest acknowledged message: {slowest.Key}, {slowest.Latency.TotalSeconds:0.0} s over {slowest.Attempts} attempts (last via {slowest.Via})");
        return violations;
    }

    /// <summary>The janitor's timeout (5 s here) plus its interval, and room for a loaded machine.</summary>
    private static readonly TimeSpan PresenceWait = TimeSpan.FromSeconds(30);

    private async Task ExecuteAsync(Stack stack, Fault fault, TimeSpan loadStart, SemaphoreSlim siloGate, CancellationToken cancellationToken)
    {
        var wait = loadStart + fault.At - clock.Elapsed;
        if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken);
        var node = fault.Kind switch
        {
            FaultKind.KillSilo => stack.Silos[fault.Target],
            FaultKind.KillGateway => stack.Gateways[fault.Target],
            _ => null,
        };
        var began = clock.Elapsed;
        if (fault.Kind == FaultKind.KillSilo)
        {
            // Never more than one silo down: wait (bounded) for the others to be up and ready.
            if (!await siloGate.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken) || stack.Silos.Any(s => !s.IsUp))
            {
                Record($"#{fault.Number} skipped: another silo was not back in time");
                return;
            }
        }
        try
        {
            if (node is null)
            {
                await stack.StopPostgresAsync();
                Log($"fault #{fault.Number}: PostgreSQL stopped (immediate)");
            }
            else
            {
                var pid = node.Pid;
                node.Kill();
                Log($"fault #{fault.Number}: kill -9 {node.Name} (pid {pid})");
            }
            var killed = clock.Elapsed;
            await Task.Delay(fault.Down, cancellationToken);
            if (node is null)
            {
                await stack.StartPostgresAsync();
                Record(string.Create(CultureInfo.InvariantCulture, $"#{fault.Number,-2} t={(killed - loadStart).TotalSeconds,5:0.0}s  {fault.Action,-24} {fault.TargetName,-10} restarted after {(clock.Elapsed - killed).TotalSeconds:0.0}s"));
                Log($"fault #{fault.Number}: PostgreSQL started again");
            }
            else
            {
                var restart = clock.Elapsed;
                await stack.StartNodeAsync(node, cancellationToken);
                Record(string.Create(CultureInfo.InvariantCulture,
                    $"#{fault.Number,-2} t={(killed - loadStart).TotalSeconds,5:0.0}s  {fault.Action,-24} {fault.TargetName,-10} restarted after {(restart - killed).TotalSeconds:0.0}s, ready {(clock.Elapsed - restart).TotalSeconds:0.0}s later (pid {node.Pid})"));
                Log($"fault #{fault.Number}: {node.Name} ready again");
            }
        }
        finally
        {
            if (fault.Kind == FaultKind.KillSilo) siloGate.Release();
        }
        _ = began;
    }

    private void Record(string line)
    {
        lock (_executed) _executed.Add(line);
    }

    private static NpgsqlConnection Open(string connectionString) =>
        new(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = 10 }.ConnectionString);

    private static async Task<Dictionary<string, long>> CountsAsync(string connectionString, List<string> databases)
    {
        await using var connection = Open(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT d, (SELECT count(*) FROM chat.messages m WHERE m.database = d) FROM unnest(@dbs) AS d", connection);
        command.Parameters.AddWithValue("dbs", databases.ToArray());
        await using var reader = await command.ExecuteReaderAsync();
        var counts = new Dictionary<string, long>();
        while (await reader.ReadAsync()) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    }

    private static async Task<List<string>> OnlineAsync(string connectionString, List<string> databases)
    {
        await using var connection = Open(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT database || ' ' || identity FROM chat.users WHERE online AND database = ANY(@dbs)", connection);
        command.Parameters.AddWithValue("dbs", databases.ToArray());
        await using var reader = await command.ExecuteReaderAsync();
        var online = new List<string>();
        while (await reader.ReadAsync()) online.Add(reader.GetString(0));
        return online;
    }

    public sealed record StoredRow(string Database, long Offset, string Sender, DateTime Sent, string Text);

    private static async Task<List<StoredRow>> RowsAsync(string connectionString, List<string> databases)
    {
        await using var connection = Open(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT database, \"offset\", sender, sent, text FROM chat.messages WHERE database = ANY(@dbs) ORDER BY database, \"offset\"", connection);
        command.Parameters.AddWithValue("dbs", databases.ToArray());
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<StoredRow>();
        while (await reader.ReadAsync())
            rows.Add(new StoredRow(reader.GetString(0), reader.GetInt64(1), reader.GetString(2), reader.GetDateTime(3), reader.GetString(4)));
        return rows;
    }
}
