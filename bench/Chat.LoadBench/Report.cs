using System.Globalization;
using System.Text.Json;

namespace Chat.LoadBench;

public sealed record SendSection(double SecondsPerMeasurement, double WarmupSeconds, int PostgresPool, List<LevelResult> Levels);

public sealed record RoomSection(double SecondsOfSending, List<RoomResult> Configurations);

public sealed record ConnectionsSection(int Parallelism, List<IdleResult> Levels);

/// <summary>Everything one run measured: bench/results/load-STAMP.json.</summary>
public sealed record ReportFile(
    DateTime StartedUtc,
    int Cores,
    string Command,
    string Postgres,
    double TotalSeconds,
    SendSection? Send,
    RoomSection? Room,
    ConnectionsSection? Connections,
    NoisySection? Noisy,
    ManyRoomsSection? ManyRooms,
    List<string> Targets,
    List<string> Problems);

/// <summary>
/// The summary printed at the end and written to bench/results/load-STAMP.md (tables a README can take as they are), the JSON
/// file, and the throughput/latency chart of the send scenario (load-STAMP.png).
/// </summary>
public sealed class Report(DateTime started, string command, string postgres)
{
    // Issue 15's targets (2-core machine), against raw PostgreSQL as pgbench writes it.
    private const double ManyRoomsTargetRatio = 3;
    private const double Target1Ratio = 1.0, Target1P99AddMs = 1, Target16Ratio = 2, Target64PerSecond = 25_000, Target64Ratio = 4;
    private static readonly RoomConfig RoomTarget = new(1, 100, 1000);
    private const double RoomTargetP99Ms = 20;
    private const int IdleTarget = 10_000;
    private const double IdleTargetKb = 50;

    private readonly SummaryWriter _summary = new("load", started, "Chat.LoadBench");
    private readonly List<string> _targets = [];

    public SendSection? Send { get; set; }
    public RoomSection? Room { get; set; }
    public ConnectionsSection? Connections { get; set; }
    public NoisySection? Noisy { get; set; }
    public ManyRoomsSection? ManyRooms { get; set; }

    /// <summary>Prints the summary and writes the files; returns their paths.</summary>
    public async Task<string[]> WriteAsync(double totalSeconds, List<string> problems)
    {
        Console.WriteLine();
        Line($"{Environment.ProcessorCount} cores, PostgreSQL {postgres}; `{command}`.");
        if (Send is not null) SendTables(Send);
        if (Room is not null) RoomTable(Room);
        if (Connections is not null) ConnectionsTable(Connections);
        if (Noisy is not null) NoisyTable(Noisy);
        if (ManyRooms is not null) ManyRoomsTable(ManyRooms);
        Line();
        foreach (var target in _targets) Line(target);

        var json = await ResultFiles.WriteJsonAsync("load", started,
            new ReportFile(started, Environment.ProcessorCount, command, postgres, totalSeconds, Send, Room, Connections, Noisy, ManyRooms, _targets, problems));
        var verified = new List<string>();
        if (Send is not null || Room is not null || ManyRooms is not null) verified.Add("every acknowledged message is in chat.message exactly once");
        if (Room is not null || ManyRooms is not null) verified.Add("every subscriber got every message of its room once, in order");
        if (Connections is not null) verified.Add("every connection opened, went online and offline, and ended cleanly");
        if (Noisy is not null) verified.Add("every attack stopped by itself within its bound");
        _summary.FileOnly();
        _summary.FileOnly(problems.Count == 0 ? $"Verified: {string.Join("; ", verified)}." : $"FAILED: {problems.Count} problem(s).");
        var markdown = await _summary.WriteAsync();
        var files = new List<string> { json, markdown };
        if (Send is { Levels.Count: > 0 } && WriteSendChart(ResultFiles.PathFor("load", started, "png"), started, Environment.ProcessorCount, Send) is { } png)
            files.Add(png);
        return [.. files];
    }

    /// <summary>
    /// Draws the send scenario's chart again from a results file (bench/results/load-STAMP.json) of this or an earlier run, next to
    /// it (load-STAMP.png) or at <paramref name="png"/>; returns the path, or null (with the reason on stderr) when it has no send data.
    /// </summary>
    public static string? ChartFrom(string json, string? png)
    {
        var file = JsonSerializer.Deserialize<ReportFile>(File.ReadAllText(json), ResultFiles.Json)
                   ?? throw new InvalidDataException($"{json} holds no report");
        if (file.Send is not { Levels.Count: > 0 } send)
        {
            Console.Error.WriteLine($"{json} has no send scenario to chart");
            return null;
        }
        return WriteSendChart(png ?? Path.ChangeExtension(json, ".png"), file.StartedUtc, file.Cores, send);
    }

    private static string? WriteSendChart(string png, DateTime started, int cores, SendSection send)
    {
        try
        {
            ThroughputLatencyChart.WritePng(png, "Chat.LoadBench: send_message, closed loop",
                $"{started:yyyy-MM-dd HH:mm} UTC, {cores} cores, {send.SecondsPerMeasurement:0.#} s per point; solid p99, dashed p50; labels: connections",
                SendSeries(send));
            return png;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or DllNotFoundException or TypeInitializationException)
        {
            Console.Error.WriteLine($"The chart could not be drawn: {e.Message}");
            return null;
        }
    }

    /// <summary>The chart hook: one series per send kind, one point per concurrency level.</summary>
    private static List<ChartSeries> SendSeries(SendSection send)
    {
        ChartSeries Series(string name, Func<LevelResult, Measured> pick) =>
            new(name, send.Levels.Select(l => new ChartPoint(pick(l).PerSecond, pick(l).P50Ms, pick(l).P99Ms, $"{l.Connections} conn")).ToList());
        return
        [
            Series("send over Connect", l => l.Connect),
            Series("send unary", l => l.Unary),
            Series("raw PostgreSQL (pgbench)", l => l.Reference),
            Series("Npgsql in-process", l => l.Postgres),
            Series("raw gRPC bidi", l => l.GrpcBidi),
            Series("raw gRPC unary", l => l.GrpcUnary),
        ];
    }

    private void Line(string text = "") => _summary.Line(text);

    // ---- send ---------------------------------------------------------------------------------------------------

    private void SendTables(SendSection send)
    {
        Line();
        Line($"## send: closed loop, {send.SecondsPerMeasurement:0.#} s per measurement");
        Line();
        Line("msg/s = acknowledged durable messages (verified in chat.message) per second; latency = call to acknowledgement, every call, nearest rank.");
        Line("pgbench = raw PostgreSQL as a good client writes it: PostgreSQL's pgbench in its own process, one INSERT + commit per message into a table of");
        Line("chat.message's shape, -M prepared, N clients (fewer only where the server has no room: shown), min(N, cores) threads; p50/p99 from its per-transaction");
        Line($"log; rows counted against its transactions. Npgsql = the same INSERTs from this process (at most {send.PostgresPool} connections). Ratios (x) use pgbench.");
        Line("raw gRPC = empty call/round trip on a bare server. Levels alternate which side runs first.");
        foreach (var (title, pick, grpcName, grpcPick) in new (string, Func<LevelResult, Measured>, string, Func<LevelResult, Measured>)[]
                 {
                     ("send over Connect (CallReducer send_message)", r => r.Connect, "raw gRPC bidi ping/pong", r => r.GrpcBidi),
                     ("send unary (SendMessage)", r => r.Unary, "raw gRPC empty unary", r => r.GrpcUnary),
                 })
        {
            Line();
            Line($"### {title}");
            Line();
            Line($"| connections | msg/s | p50 ms | p90 ms | p99 ms | max ms | group commits: mean size, p50 ms | pgbench msg/s (p99 ms) | x pgbench | Npgsql in-process msg/s (p99 ms) | {grpcName} calls/s (p99 ms) | x gRPC |");
            Line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in send.Levels)
            {
                var m = pick(r);
                var g = grpcPick(r);
                var groups = m.Groups is { Groups: > 0 } g0 ? $"{g0.MeanSize:0.0}, {g0.P50Ms:0.00}" : "-";
                Line($"| {r.Connections} | {m.PerSecond:0} | {m.P50Ms:0.00} | {m.P90Ms:0.00} | {m.P99Ms:0.00} | {m.MaxMs:0.00} | {groups} | {PgBenchCell(r)} | " +
                     $"{m.PerSecond / r.Reference.PerSecond:0.00}x | {r.Postgres.PerSecond:0} ({r.Postgres.P99Ms:0.00}) | {g.PerSecond:0} ({g.P99Ms:0.00}) | {m.PerSecond / g.PerSecond:0.00}x |");
            }
        }

        Line();
        Line("### CPU per message, by process");
        Line();
        var inProcess = send.Levels.All(r => double.IsNaN(r.Connect.StackUsPerMessage));
        Line("µs of CPU (user + system, /proc/PID/stat over the measured window) per acknowledged message: client = the process that sent (this benchmark; pgbench");
        Line(inProcess
            ? "for its column), stack = silo + gateway: here hosted in the benchmark's own process, so its CPU is inside 'client' (run with --stack-process to split it),"
            : "for its column), stack = the silo + gateway process (--stack-process),");
        Line("postgres = the postmaster and every backend. Other tenants of the machine are in none of them.");
        Line();
        Line("| connections | send over Connect: client / stack / postgres | send unary | pgbench | Npgsql in-process |");
        Line("|---:|---:|---:|---:|---:|");
        foreach (var r in send.Levels)
            Line($"| {r.Connections} | {CpuCell(r.Connect)} | {CpuCell(r.Unary)} | {(r.PgBench is null ? "-" : CpuCell(r.PgBench))} | {CpuCell(r.Postgres)} |");

        if (send.Levels.Any(r => r.PgBench is not null))
        {
            Line();
            Line("In-process Npgsql baseline against pgbench on this machine: " + string.Join(", ", send.Levels.Where(r => r.PgBench is not null)
                .Select(r => $"{r.Connections} conn {r.Postgres.PerSecond / r.PgBench!.PerSecond:0.00}x msg/s (p99 {r.Postgres.P99Ms:0.00} vs {r.PgBench.P99Ms:0.00} ms)")) + ".");
        }

        var reference = send.Levels.Any(r => r.PgBench is not null) ? "pgbench" : "raw PostgreSQL (Npgsql, pgbench missing)";
        if (send.Levels.FirstOrDefault(r => r.Connections == 1) is { } at1)
        {
            var (m, p) = (at1.Connect, at1.Reference);
            var ratio = m.PerSecond / p.PerSecond;
            _targets.Add($"send over Connect at 1 connection: {ratio:0.00}x {reference} (target >= {Target1Ratio:0.0}x, {Met(ratio >= Target1Ratio)}), p99 {m.P99Ms:0.00} ms " +
                         $"against {p.P99Ms:0.00} ms (target <= +{Target1P99AddMs:0} ms, {Met(m.P99Ms <= p.P99Ms + Target1P99AddMs)})");
        }
        else _targets.Add("send at 1 connection: not measured (1 not among --connections)");
        if (send.Levels.FirstOrDefault(r => r.Connections == 16) is { } at16)
        {
            var ratio = at16.Connect.PerSecond / at16.Reference.PerSecond;
            _targets.Add($"send over Connect at 16: {ratio:0.00}x {reference} (target >= {Target16Ratio:0}x) -- {Met(ratio >= Target16Ratio)}");
        }
        else _targets.Add("send over Connect at 16: not measured (16 not among --connections)");
        if (send.Levels.FirstOrDefault(r => r.Connections == 64) is { } at64)
        {
            var rate = at64.Connect.PerSecond;
            var ratio = rate / at64.Reference.PerSecond;
            _targets.Add($"send over Connect at 64: {rate:0} msg/s, {ratio:0.00}x {reference} (target >= {Target64PerSecond:N0} msg/s or >= {Target64Ratio:0}x) -- " +
                         $"{Met(rate >= Target64PerSecond || ratio >= Target64Ratio)}");
        }
        else _targets.Add("send over Connect at 64: not measured (64 not among --connections)");
    }

    private static string PgBenchCell(LevelResult r) => r.PgBench is not { } p
        ? "-"
        : $"{p.PerSecond:0} ({p.P99Ms:0.00}){(r.PgBenchClients < r.Connections ? $" [{r.PgBenchClients} clients]" : "")}";

    /// <summary>client / stack / postgres µs per message; the stack's is "in client" when it runs in the benchmark's process.</summary>
    public static string CpuCell(Measured m) => $"{m.ClientUsPerMessage:0} / {StackCpu(m)} / {m.PostgresUsPerMessage:0}";

    /// <summary>With pgbench as the client an in-process stack only idles, and its CPU is in no column.</summary>
    public static string StackCpu(Measured m) => !double.IsNaN(m.StackUsPerMessage) ? m.StackUsPerMessage.ToString("0", CultureInfo.InvariantCulture)
        : m.ClientIsChild ? "-" : "in client";

    // ---- room ---------------------------------------------------------------------------------------------------

    private void RoomTable(RoomSection room)
    {
        Line();
        Line($"## chat room: fixed send rate, open loop, {room.SecondsOfSending:0.#} s of sending per side");
        Line();
        Line("commit->last = per message, from its commit (the row's server timestamp 'sent', taken just before the group commit) to its arrival at the last subscriber of its room;");
        Line("per delivery = the same for every single delivery. Same machine clock. Nearest rank over every message / delivery. Baseline = bare gRPC server stream,");
        Line("each message stamped just before it is queued to the listeners (no storage). deliveries/s = received rows / (first send .. last arrival).");
        Line("committed = messages / (first .. last server timestamp): below 'sent' when calls queue up faster than they commit.");
        Line();
        Line("| rooms x users | msg/s sent / committed | deliveries/s (offered) | baseline deliveries/s | x baseline | commit->last p50 / p99 / max ms | baseline p50 / p99 / max ms | x baseline p99 | per delivery p50 / p99 ms | baseline per delivery p50 / p99 ms | send->ack p50 / p99 ms |");
        Line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in room.Configurations)
        {
            var (s, b) = (r.Stack, r.Baseline);
            Line($"| {r.Config.Rooms} x {r.Config.Users} | {s.SendRate:0} / {s.CommitRate:0} ({s.Senders} senders) | {s.DeliveriesPerSecond:0} ({r.OfferedDeliveriesPerSecond:0}) | {b.DeliveriesPerSecond:0} | " +
                 $"{s.DeliveriesPerSecond / b.DeliveriesPerSecond:0.00}x | {s.LastP50Ms:0.00} / {s.LastP99Ms:0.00} / {s.LastMaxMs:0.00} | " +
                 $"{b.LastP50Ms:0.00} / {b.LastP99Ms:0.00} / {b.LastMaxMs:0.00} | {s.LastP99Ms / b.LastP99Ms:0.0}x | {s.DeliveryP50Ms:0.00} / {s.DeliveryP99Ms:0.00} | " +
                 $"{b.DeliveryP50Ms:0.00} / {b.DeliveryP99Ms:0.00} | {s.AckP50Ms:0.00} / {s.AckP99Ms:0.00} |");
        }
        if (room.Configurations.FirstOrDefault(r => r.Config == RoomTarget) is { } target)
        {
            var p99 = target.Stack.LastP99Ms;
            var keptUp = target.Stack.CommitRate >= 0.95 * RoomTarget.Rate;
            _targets.Add($"chat room, 100 users in 1 room at 1,000 msg/s: p99 commit->last subscriber {p99:0.00} ms (target < {RoomTargetP99Ms:0} ms) -- " +
                         $"{Met(p99 < RoomTargetP99Ms && keptUp)}{(keptUp ? "" : $" (committed at only {target.Stack.CommitRate:0} msg/s)")}");
        }
        else _targets.Add($"chat room target: not measured ({RoomTarget} not among --rooms)");
    }

    // ---- connections --------------------------------------------------------------------------------------------

    private void ConnectionsTable(ConnectionsSection connections)
    {
        Line();
        Line($"## connections: idle Connect streams, {connections.Parallelism} connecting at a time, 100 streams per HTTP/2 connection");
        Line();
        Line("KB per connection = growth of the server process's resident set (VmRSS, after a forced full GC) / connections. Stack = the src/Silo binary");
        Line("(silo + gateway) in its own process; baseline = a bare gRPC server (idle bidi stream) in its own process. Offline = until no user of the");
        Line("database is online and no chat.connection row is left, from the first goodbye.");
        Line();
        Line("| connections | connect s (per s) | baseline connect s (per s) | KB per connection | baseline KB per connection | x baseline | RSS before / held / after close MB | baseline RSS MB | goodbye s, offline s |");
        Line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in connections.Levels)
        {
            var (s, b) = (r.Stack, r.Baseline);
            Line($"| {r.Connections:N0} | {s.ConnectSeconds:0.00} ({s.ConnectsPerSecond:0}) | {b.ConnectSeconds:0.00} ({b.ConnectsPerSecond:0}) | {s.KbPerConnection:0.0} | " +
                 $"{b.KbPerConnection:0.0} | {s.KbPerConnection / b.KbPerConnection:0.0}x | {Mb(s.RssBeforeKb)} / {Mb(s.RssHeldKb)} / {Mb(s.RssAfterCloseKb)} | " +
                 $"{Mb(b.RssBeforeKb)} / {Mb(b.RssHeldKb)} / {Mb(b.RssAfterCloseKb)} | {s.CloseSeconds:0.00}, {s.OfflineSeconds:0.00} |");
        }
        if (connections.Levels.FirstOrDefault(r => r.Connections == IdleTarget) is { } target)
        {
            var s = target.Stack;
            var held = s.Opened == IdleTarget && s.OnlineWhileHeld == IdleTarget && s.Problems.Count == 0;
            _targets.Add($"connections: {s.Opened:N0} of {IdleTarget:N0} idle connections held{(held ? "" : " (NOT all)")}, {s.KbPerConnection:0.0} KB per connection " +
                         $"across gateway and silo (target < {IdleTargetKb:0} KB) -- {Met(held && s.KbPerConnection < IdleTargetKb)}");
        }
        else _targets.Add($"connections target: not measured ({IdleTarget:N0} not among --idle)");
    }

    // ---- noisy neighbour -----------------------------------------------------------------------------------------

    private void NoisyTable(NoisySection noisy)
    {
        var baseline = noisy.Phases.FirstOrDefault();
        Line();
        Line($"## noisy neighbour: a victim beside each attack, the stack binary at its default limits, {noisy.WindowSeconds:0.#} s of sending per phase");
        Line();
        Line($"Victim (127.0.0.1): one database with the default settings, {noisy.Subscribers} subscribers of `SELECT * FROM Message`, one sender at {noisy.Rate:0} msg/s, and its owner's");
        Line("SQL probe `SELECT * FROM User WHERE name = ...` 4 times a second. send->delivery = from the sender's write to the arrival at each subscriber, every delivery,");
        Line("nearest rank. Each attack comes from a loopback address of its own (127.0.0.11 and up), uses its own identities and, except where it aims at the");
        Line("victim's database, its own databases; it stops at the end of its phase. Outcomes = the attacker's calls by result (gRPC status; SubscriptionError for a");
        Line("refused subscription). RSS = the stack process's VmRSS: before (after a forced full GC), highest sample during, after (the attack stopped, settled, GC).");
        Line($"MET = victim send->delivery p99 at most {noisy.TargetRatio:0}x the first baseline's, no victim call refused, delivery lost or probe failed; the sql attack");
        Line($"also needs the probe's p99 within {noisy.TargetRatio:0}x. \"baseline again\" runs last, to show how far the machine drifted during the run.");
        Line($"Source addresses: {noisy.SourceCheck}.");
        Line();
        Line("| phase | victim send->delivery p50 / p99 / max ms | x baseline p99 | SQL probe p50 / p99 ms (x baseline) | victim failures | attacker outcomes | stack RSS before / peak / after MB | verdict |");
        Line("|---|---:|---:|---:|---|---|---:|---|");
        foreach (var p in noisy.Phases)
        {
            var v = p.Victim;
            var failures = v.Failures.Count == 0 ? "none" : $"{v.Failures.Count}{(v.Failures.Count >= 20 ? "+" : "")}: {Cell(Short(v.Failures[0]))}";
            var deliveries = v.Deliveries == v.ExpectedDeliveries && v.Acked == v.Sent ? "" : $" ({v.Deliveries}/{v.ExpectedDeliveries} delivered, {v.Acked}/{v.Sent} sends ok)";
            Line($"| {p.Name} | {v.DeliveryP50Ms:0.0} / {v.DeliveryP99Ms:0.0} / {v.DeliveryMaxMs:0.0}{deliveries} | {p.DeliveryRatio:0.00}x | " +
                 $"{v.ProbeP50Ms:0.0} / {v.ProbeP99Ms:0.0} ({p.ProbeRatio:0.00}x) | {failures} | {Cell(NoisyScenario.OutcomeText(p.Outcomes))} | " +
                 $"{Mb(p.RssBeforeKb)} / {Mb(p.RssPeakKb)} / {Mb(p.RssAfterKb)} | {p.Verdict} |");
        }
        Line();
        foreach (var p in noisy.Phases.Where(p => p.Attack is not null))
        {
            var refusal = p.Examples.FirstOrDefault(e => !e.Key.EndsWith(" OK", StringComparison.Ordinal));
            Line($"- **{p.Name}** (from {p.Source}): {p.Attack}. Did: {p.Done}." + (refusal.Key is null ? "" : $" First `{refusal.Key}`: \"{Cell(Short(refusal.Value))}\""));
        }
        var attacks = noisy.Phases.Where(p => p.Attack is not null).ToList();
        var met = attacks.Where(p => p.Verdict == "MET").ToList();
        var missed = attacks.Except(met).Select(p => p.Name).ToList();
        _targets.Add($"noisy neighbour: {met.Count} of {attacks.Count} attacks MET (victim send->delivery p99 <= {noisy.TargetRatio:0}x its baseline of " +
                     $"{baseline?.Victim.DeliveryP99Ms:0.0} ms, nothing of the victim's refused or lost){(missed.Count == 0 ? "" : $"; NOT MET: {string.Join(", ", missed)}")}");
    }

    // ---- many rooms -----------------------------------------------------------------------------------------------

    private void ManyRoomsTable(ManyRoomsSection rooms)
    {
        Line();
        Line($"## many rooms: {rooms.Rooms:N0} rooms x {rooms.Users} members, open loop, {rooms.SecondsPerRate:0.#} s of sending per rate and side");
        Line();
        Line($"Every member is one Connect stream subscribed to `SELECT * FROM Message` of its room, and sends to it on the same stream; message i is due");
        Line("at i / rate, goes to room i mod R, sent by member (i / R) mod U, whatever the replies so far. send->ack = from when the message was due to its");
        Line("ReducerResult (so it includes any queueing); delivery = from when it was due to its arrival at the last member of its room. msg/s = acknowledged");
        Line("messages / (first due .. last acknowledgement). Raw PostgreSQL = one autocommit INSERT per message into a table of chat.message's shape, latency from");
        Line($"due to commit: pgbench at the same total rate (-R, Poisson arrivals, -M prepared, up to {rooms.PostgresPool} clients, whole seconds), and Npgsql in");
        Line($"this process on the stack's exact schedule, one writer per room (pool of {rooms.PostgresPool}). Ratios (x) use pgbench. Rates alternate which side runs first.");
        Line("CPU = µs of CPU per acknowledged message, client / stack / postgres (see the send scenario's CPU table).");
        Line($"Setup: {rooms.Rooms:N0} databases published in {rooms.PublishSeconds:0.0} s, {rooms.Rooms * rooms.Users:N0} members connected and subscribed in {rooms.ConnectSeconds:0.0} s.");
        Line();
        Line("| rate msg/s | stack msg/s | send->ack p50 / p99 ms | delivery to last member p50 / p99 ms | pgbench msg/s | pgbench p50 / p99 ms | Npgsql msg/s (p50 / p99 ms) | x pgbench msg/s | x pgbench p99 | CPU µs/msg stack run | pgbench run | Npgsql run |");
        Line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rooms.Rates)
        {
            var (s, n, p) = (r.Stack, r.Postgres, r.Reference);
            Line($"| {r.Rate:N0} | {s.PerSecond:0}{(s.Failures > 0 ? $" ({s.Failures} failed)" : "")} | {s.P50Ms:0.0} / {s.P99Ms:0.0} | {r.DeliveryP50Ms:0.0} / {r.DeliveryP99Ms:0.0} | " +
                 $"{(r.PgBench is { } g ? $"{g.PerSecond:0}{(g.Failures > 0 ? $" ({g.Failures} failed)" : "")}{(r.PgBenchClients < Math.Min(rooms.Rooms, rooms.PostgresPool) ? $" [{r.PgBenchClients} clients]" : "")}" : "-")} | {(r.PgBench is { } h ? $"{h.P50Ms:0.0} / {h.P99Ms:0.0}" : "-")} | " +
                 $"{n.PerSecond:0}{(n.Failures > 0 ? $" ({n.Failures} failed)" : "")} ({n.P50Ms:0.0} / {n.P99Ms:0.0}) | {s.PerSecond / p.PerSecond:0.00}x | {s.P99Ms / p.P99Ms:0.0}x | " +
                 $"{CpuCell(s)} | {(r.PgBench is { } c ? CpuCell(c) : "-")} | {CpuCell(n)} |");
        }
        double? Highest(Func<ManyRoomsRate, Measured?> side)
        {
            var held = rooms.Rates.Where(r => side(r) is { } m && m.P99Ms < rooms.AckTargetMs && m.PerSecond >= 0.95 * r.Rate && m.Failures == 0).ToList();
            return held.Count == 0 ? null : held.Max(r => r.Rate);
        }
        static string Rate(double? rate) => rate is { } r ? $"{r:N0} msg/s" : "none";
        var (stack, pgbench, npgsql) = (Highest(r => r.Stack), Highest(r => r.PgBench), Highest(r => r.Postgres));
        var reference = rooms.Rates.Any(r => r.PgBench is not null) ? pgbench : npgsql;
        var tested = string.Join(", ", rooms.Rates.Select(r => r.Rate.ToString("N0", CultureInfo.InvariantCulture)));
        var verdict = stack is null ? "NOT MET" : reference is null ? "MET (raw PostgreSQL sustained none)"
            : stack >= ManyRoomsTargetRatio * reference ? "MET" : reference >= rooms.Rates.Max(r => r.Rate) ? "NOT MEASURABLE: raw PostgreSQL sustained the highest rate tried; add higher --rates" : "NOT MET";
        _targets.Add($"many rooms ({rooms.Rooms:N0} x {rooms.Users}): highest rate sustained with send->ack p99 < {rooms.AckTargetMs:0} ms (and at least 95% of it " +
                     $"acknowledged), of {tested}: stack {Rate(stack)}, pgbench {Rate(pgbench)}, Npgsql in-process {Rate(npgsql)} " +
                     $"(target: stack >= {ManyRoomsTargetRatio:0}x raw PostgreSQL) -- {verdict}");
    }

    private static string Short(string text) => text.Length <= 200 ? text : text[..200] + "…";

    /// <summary>Text safe in a Markdown table cell.</summary>
    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Mb(long kb) => (kb / 1024.0).ToString("0", CultureInfo.InvariantCulture);

    private static string Met(bool met) => SummaryWriter.Met(met);
}
