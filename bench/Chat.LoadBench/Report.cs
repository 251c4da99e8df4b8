using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Chat.LoadBench;

public sealed record SendSection(double SecondsPerMeasurement, double WarmupSeconds, int PostgresPool, List<LevelResult> Levels);

/// <summary>Everything one run measured: bench/results/load-STAMP.json.</summary>
public sealed record ReportFile(
    DateTime StartedUtc,
    int Cores,
    string Command,
    string Postgres,
    double TotalSeconds,
    SendSection? Send,
    List<string> Targets,
    List<string> Problems);

/// <summary>
/// The summary printed at the end and written to bench/results/load-STAMP.md (tables a README can take as they are), the JSON
/// file, and the throughput/latency chart of the send scenario (load-STAMP.png).
/// </summary>
public sealed class Report(DateTime started, string command, string postgres)
{
    // The issue's targets (2-core machine).
    private const double SendTargetPerSecond = 25_000, SendTargetRatio = 2, SendTargetP99Ms = 2;

    private readonly StringBuilder _md = new();
    private readonly List<string> _targets = [];

    public SendSection? Send { get; set; }

    /// <summary>Prints the summary and writes the files; returns their paths.</summary>
    public async Task<string[]> WriteAsync(double totalSeconds, List<string> problems)
    {
        _md.AppendLine($"# Chat.LoadBench {started:yyyy-MM-dd HH:mm:ss} UTC").AppendLine();
        Console.WriteLine();
        Line($"{Environment.ProcessorCount} cores, PostgreSQL {postgres}; `{command}`.");
        if (Send is not null) SendTables(Send);
        Line();
        foreach (var target in _targets) Line(target);

        var stamp = started.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var dir = Path.Combine(Bench.RepositoryRoot(), "bench", "results");
        Directory.CreateDirectory(dir);
        var json = Path.Combine(dir, $"load-{stamp}.json");
        await File.WriteAllTextAsync(json, JsonSerializer.Serialize(
            new ReportFile(started, Environment.ProcessorCount, command, postgres, totalSeconds, Send, _targets, problems),
            new JsonSerializerOptions
            {
                WriteIndented = true,
                PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
                NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // a percentile of nothing is NaN
            }));
        var markdown = Path.Combine(dir, $"load-{stamp}.md");
        _md.AppendLine().AppendLine(problems.Count == 0
            ? "Verified: every acknowledged message is in chat.message exactly once (offsets 1..n, texts match); every call succeeded."
            : $"FAILED: {problems.Count} problem(s).");
        await File.WriteAllTextAsync(markdown, _md.ToString());
        var files = new List<string> { json, markdown };
        if (Send is { Levels.Count: > 0 })
        {
            var png = Path.Combine(dir, $"load-{stamp}.png");
            try
            {
                ThroughputLatencyChart.WritePng(png, "Chat.LoadBench: send_message, closed loop",
                    $"{started:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Send.SecondsPerMeasurement:0.#} s per point; solid p99, dashed p50",
                    SendSeries(Send));
                files.Add(png);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or DllNotFoundException or TypeInitializationException)
            {
                Console.Error.WriteLine($"The chart could not be drawn: {e.Message}");
            }
        }
        return [.. files];
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
            Series("raw PostgreSQL", l => l.Postgres),
            Series("raw gRPC bidi", l => l.GrpcBidi),
            Series("raw gRPC unary", l => l.GrpcUnary),
        ];
    }

    private void Line(string text = "")
    {
        Console.WriteLine(text);
        _md.AppendLine(text);
    }

    // ---- send ---------------------------------------------------------------------------------------------------

    private void SendTables(SendSection send)
    {
        Line();
        Line($"## send: closed loop, {send.SecondsPerMeasurement:0.#} s per measurement");
        Line();
        Line("msg/s = acknowledged durable messages (verified in chat.message) per second; latency = call to acknowledgement, every call, nearest rank.");
        Line($"raw PostgreSQL = one autocommit INSERT per message, N workers (at most {send.PostgresPool} connections); raw gRPC = empty call/round trip, bare server.");
        foreach (var (title, pick, grpcName, grpcPick) in new (string, Func<LevelResult, Measured>, string, Func<LevelResult, Measured>)[]
                 {
                     ("send over Connect (CallReducer send_message)", r => r.Connect, "raw gRPC bidi ping/pong", r => r.GrpcBidi),
                     ("send unary (SendMessage)", r => r.Unary, "raw gRPC empty unary", r => r.GrpcUnary),
                 })
        {
            Line();
            Line($"### {title}");
            Line();
            Line($"| connections | msg/s | p50 ms | p90 ms | p99 ms | max ms | raw PostgreSQL msg/s (p99 ms) | x PostgreSQL | {grpcName} calls/s (p99 ms) | x gRPC |");
            Line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in send.Levels)
            {
                var m = pick(r);
                var g = grpcPick(r);
                Line($"| {r.Connections} | {m.PerSecond:0} | {m.P50Ms:0.00} | {m.P90Ms:0.00} | {m.P99Ms:0.00} | {m.MaxMs:0.00} | {r.Postgres.PerSecond:0} ({r.Postgres.P99Ms:0.00}) | " +
                     $"{m.PerSecond / r.Postgres.PerSecond:0.00}x | {g.PerSecond:0} ({g.P99Ms:0.00}) | {m.PerSecond / g.PerSecond:0.00}x |");
            }
        }
        if (send.Levels.FirstOrDefault(r => r.Connections == 64) is { } at64)
        {
            var rate = at64.Connect.PerSecond;
            var ratio = rate / at64.Postgres.PerSecond;
            var met = rate >= SendTargetPerSecond && ratio >= SendTargetRatio;
            _targets.Add($"send over Connect at 64: {rate:0} msg/s (target >= {SendTargetPerSecond:N0}{(rate >= SendTargetPerSecond ? "" : ", NOT MET")}) and " +
                         $"{ratio:0.00}x raw PostgreSQL (target >= {SendTargetRatio:0}x{(ratio >= SendTargetRatio ? "" : ", NOT MET")}) -- {(met ? "MET" : "NOT MET")}");
        }
        else _targets.Add("send over Connect at 64: not measured (64 not among --connections)");
        if (send.Levels.FirstOrDefault(r => r.Connections == 1) is { } at1)
            _targets.Add($"send at 1 connection: p99 {at1.Connect.P99Ms:0.00} ms over Connect (target < {SendTargetP99Ms:0} ms, {Met(at1.Connect.P99Ms < SendTargetP99Ms)}), " +
                         $"p99 {at1.Unary.P99Ms:0.00} ms unary (target < {SendTargetP99Ms:0} ms, {Met(at1.Unary.P99Ms < SendTargetP99Ms)})");
        else _targets.Add("send at 1 connection: not measured (1 not among --connections)");
    }

    private static string Met(bool met) => met ? "MET" : "NOT MET";
}
