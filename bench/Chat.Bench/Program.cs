// send_message throughput through the grains (group commit, durable PostgreSQL) against a baseline
// measured in the same run on the same server: one INSERT + one commit per message through Npgsql.
// Then, in the same run, the grains with the module log of send_message off against on (the default).
// Usage: dotnet run -c Release --project bench/Chat.Bench -- [--quick] [--seconds N] [--warmup N] [--rounds N] [--senders 1,16,64]
//        [--logging-senders N] [--no-logging-comparison]
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Chat;
using Chat.Bench;
using Chat.Grains;
using Chat.Development;
using Chat.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;

const double TargetRatio = 5;
const double LoggingTarget = 0.85; // logging on must keep at least this share of the throughput with it off
var seconds = 5.0;
var warmupSeconds = 1.0;
var rounds = 2;
int[] levels = [1, 16, 64];
var compareLogging = true;
var loggingSenders = 64;
try
{
    for (var i = 0; i < args.Length; i++)
        switch (args[i])
        {
            case "--quick": seconds = 2; break;
            case "--seconds": seconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
            case "--warmup": warmupSeconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
            case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
            case "--senders": levels = args[++i].Split(',').Select(int.Parse).Distinct().ToArray(); break;
            case "--logging-senders": loggingSenders = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
            case "--no-logging-comparison": compareLogging = false; break;
            default: throw new FormatException($"unknown argument '{args[i]}'");
        }
    // Up to 100: the baseline's Npgsql pool (default size) must give every sender its own connection.
    if (seconds <= 0 || warmupSeconds < 0 || rounds < 1 || levels.Length == 0 || levels.Any(c => c is < 1 or > 100) || loggingSenders is < 1 or > 1000)
        throw new FormatException("need --seconds > 0, --warmup >= 0, --rounds >= 1, senders between 1 and 100 and logging senders between 1 and 1000");
}
catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
{
    Console.Error.WriteLine($"{e.Message}\nusage: Chat.Bench [--quick] [--seconds N] [--warmup N] [--rounds N] [--senders 1,16,64] " +
                            "[--logging-senders N] [--no-logging-comparison]");
    return 2;
}

using var cancel = new CancellationTokenSource();
void Stop(PosixSignalContext context)
{
    context.Cancel = true; // unwind through the finally blocks so that the throwaway server is destroyed
    Console.Error.WriteLine("Stopping...");
    cancel.Cancel();
}
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

var duration = TimeSpan.FromSeconds(seconds);
var warmup = TimeSpan.FromSeconds(warmupSeconds);
var started = DateTime.UtcNow;
var problems = new List<string>();
var results = new List<LevelResult>();
LoggingResult? logging = null;
// What users run: the default settings, so send_message's module log ON; only the rate limit is lifted (the load would
// be refused otherwise).
var mainSettings = ModuleSettings.Default with { MessagesPerSecond = 0 };
var owner = Identity.Random(); // publishes every database

Console.WriteLine($"Chat.Bench: senders {string.Join(",", levels)}, {seconds:0.#} s per side in {rounds} slices after {warmupSeconds:0.#} s warm-up, " +
                  $"{Environment.ProcessorCount} cores");
Console.WriteLine($"grains vs baseline: default module settings, i.e. send_message logging {OnOff(mainSettings.LogMessages)}, rate limit off; " +
                  (compareLogging ? $"then logging off vs on at {loggingSenders} senders" : "logging comparison skipped"));
var durability = "";
// Not cancellable: a start abandoned half-way could leave a server running that nobody stops (pg_ctl is bounded to 60 s).
var postgres = await LocalPostgresCluster.StartAsync(Path.Combine(Path.GetTempPath(), $"chat-bench-{Guid.NewGuid():N}"), durable: true);
IHost? host = null;
try
{
    Load.Postmaster = int.Parse(File.ReadLines(Path.Combine(postgres.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
    var cs = postgres.ConnectionString;
    await ChatSchema.MigrateAsync(cs, cancellationToken: cancel.Token);
    await using var db = NpgsqlDataSource.Create(cs);
    await BaselineTable.Create(db);
    // The point is durable commits on both sides: refuse to measure anything less.
    durability = await BaselineTable.Durability(db);
    Console.WriteLine($"PostgreSQL {durability}");
    if (!durability.Contains("fsync=on") || !durability.Contains("synchronous_commit=on"))
        throw new InvalidOperationException($"the server does not commit durably: {durability}");

    var builder = Host.CreateApplicationBuilder();
    // MessageLogGrain logs every message at Information: writing that out is not what we measure.
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.UseOrleans(silo =>
    {
        silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = ("chat-bench", "chat-bench"));
        // Free ports so that a silo of the developer's (11111/30000) can keep running; no gateway, the client is co-hosted.
        silo.ConfigureEndpoints(IPAddress.Loopback, FreePort(), gatewayPort: 0);
        silo.UseChatClustering(cs, Chat.ClusterCredentials.CreateEphemeral()); // the production membership (ADO.NET, same PostgreSQL); one silo, so a certificate no one else knows
        silo.AddChat(cs);
    });
    host = builder.Build();
    await host.StartAsync(cancel.Token);

    for (var index = 0; index < levels.Length; index++)
    {
        var senders = levels[index];
        var name = $"bench-{senders}";
        var databaseId = await Publish(name, mainSettings);

        var identities = Enumerable.Range(0, senders).Select(_ => Identity.Random()).ToArray();
        var senderBytes = identities.Select(i => i.ToBytes()).ToArray();
        Task<string?> SendToBaseline(int i, CancellationToken token) =>
            BaselineTable.Insert(db, databaseId, senderBytes[i], Text(i), token);

        // The starting side alternates per level.
        Side[] sides = [new("baseline", 'b', SendToBaseline), new("grains", 'g', SendThroughGrain(name, identities))];
        var (warm, slices, orderText) = await Compare($"{senders} senders", senders, first: index % 2, sides);

        var measured = new Measured[2];
        for (var s = 0; s < 2; s++)
        {
            var label = sides[s].Label;
            var run = Phase.Combine(slices[s]);
            var expected = identities.Select((id, i) => (Sender: id, Count: warm[s].Acked[i] + run.Acked[i])).ToArray();
            var issues = Failures(label, warm[s], run);
            issues.AddRange(s == 0
                ? await Sql.VerifyBaseline(db, databaseId, expected)
                : await Sql.VerifyMessages(db, name, expected));
            // Every grain slice starts after the grain warm-up has finished, so the measured rows are the offsets after it.
            var groupSize = s == 0 ? 1.0 : await Sql.AverageGroupSize(db, name, afterOffset: warm[s].Total);
            measured[s] = Summarize($"{senders} senders", label, warm[s], slices[s], groupSize, issues, "");
        }
        results.Add(new LevelResult(senders, orderText, measured[1], measured[0], measured[1].MessagesPerSecond / measured[0].MessagesPerSecond));
    }

    if (compareLogging)
    {
        // Two databases alike but for LogMessages, same senders and texts, measured like the levels above: off first.
        var senders = loggingSenders;
        var retention = host.Services.GetRequiredService<IOptions<ModuleLogOptions>>().Value.RetainPerDatabase;
        var identities = Enumerable.Range(0, senders).Select(_ => Identity.Random()).ToArray();
        var names = new[] { $"bench-log-off-{senders}", $"bench-log-on-{senders}" };
        var logs = new[] { false, true };
        for (var s = 0; s < 2; s++)
            await Publish(names[s], ModuleSettings.Default with { MessagesPerSecond = 0, LogMessages = logs[s] });
        Side[] sides = [new("logging off", 'n', SendThroughGrain(names[0], identities)), new("logging on", 'l', SendThroughGrain(names[1], identities))];
        var (warm, slices, orderText) = await Compare($"logging at {senders} senders", senders, first: 0, sides);

        var measured = new Measured[2];
        var logRows = new long[2];
        for (var s = 0; s < 2; s++)
        {
            var label = sides[s].Label;
            var run = Phase.Combine(slices[s]);
            var expected = identities.Select((id, i) => (Sender: id, Count: warm[s].Acked[i] + run.Acked[i])).ToArray();
            var issues = Failures(label, warm[s], run);
            issues.AddRange(await Sql.VerifyMessages(db, names[s], expected));
            var (rows, pruned, logIssues) = await Sql.VerifyLog(db, names[s], logs[s], expected.Sum(e => e.Count), retention);
            issues.AddRange(logIssues);
            logRows[s] = rows;
            var groupSize = await Sql.AverageGroupSize(db, names[s], afterOffset: warm[s].Total);
            measured[s] = Summarize($"logging at {senders} senders", label, warm[s], slices[s], groupSize, issues,
                $"  log rows {rows}{(pruned ? $" (pruned to the newest, retention {retention})" : "")}");
        }
        logging = new LoggingResult(senders, orderText, measured[0], measured[1], measured[1].MessagesPerSecond / measured[0].MessagesPerSecond,
            LoggingTarget, logRows[0], logRows[1]);
    }
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("Cancelled: no results written.");
    return 130;
}
catch (Exception e)
{
    Console.Error.WriteLine($"FAILED: {e}");
    return 1;
}
finally
{
    if (host is not null)
    {
        // Bounded: a silo that cannot leave the membership table in time must not keep the server (or us) alive.
        using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await host.StopAsync(stopTimeout.Token); }
        catch (Exception e) { Console.Error.WriteLine($"Stopping the silo: {e.Message}"); }
        host.Dispose();
    }
    await postgres.DestroyAsync();
}

var summary = new SummaryWriter("send", started, "Chat.Bench");
summary.Line();
summary.Line($"grains (send_message logging {OnOff(mainSettings.LogMessages)}, the default) vs baseline (one INSERT + commit per message):");
summary.Line("senders | grains msg/s | baseline msg/s | ratio  | grains p50 ms | grains p99 ms | avg group | baseline p50 ms | cpu us/msg g / b | order");
summary.Line("--------|-------------|----------------|--------|---------------|---------------|-----------|-----------------|------------------|------");
foreach (var r in results)
    summary.Line($"{r.Senders,7} | {r.Grains.MessagesPerSecond,11:0} | {r.Baseline.MessagesPerSecond,14:0} | {r.Ratio,5:0.00}x | " +
                      $"{r.Grains.P50Ms,13:0.00} | {r.Grains.P99Ms,13:0.00} | {r.Grains.AverageGroupSize,9:0.0} | {r.Baseline.P50Ms,15:0.00} | " +
                      $"{r.Grains.CpuMicrosecondsPerMessage,7:0} / {r.Baseline.CpuMicrosecondsPerMessage,6:0} | {r.Order}");
if (logging is { } l)
{
    summary.Line();
    summary.Line($"grains with send_message logging off vs on, {l.Senders} senders:");
    summary.Line("logging  |  msg/s | p50 ms | p99 ms | avg group | cpu us/msg | log rows | order");
    summary.Line("---------|--------|--------|--------|-----------|------------|----------|------");
    foreach (var (label, m, rows) in new[] { ("off", l.Off, l.OffLogRows), ("on", l.On, l.OnLogRows) })
        summary.Line($"{label,-8} | {m.MessagesPerSecond,6:0} | {m.P50Ms,6:0.00} | {m.P99Ms,6:0.00} | {m.AverageGroupSize,9:0.0} | " +
                          $"{m.CpuMicrosecondsPerMessage,10:0} | {rows,8} | {l.Order}");
    summary.Line($"on / off | {l.Ratio,5:0.00}x |        |        |           | " +
                      $"{l.On.CpuMicrosecondsPerMessage / l.Off.CpuMicrosecondsPerMessage,9:0.00}x |          |");
}

var file = await ResultFiles.WriteJsonAsync("send", started,
    new Report(started, Environment.ProcessorCount, seconds, rounds, warmupSeconds, durability, mainSettings.LogMessages, results, logging, problems));
summary.Line();
summary.Line($"Results: {file}");

var top = results.MaxBy(r => r.Senders)!;
summary.Line($"ratio at {top.Senders} senders: {top.Ratio:0.0}x (target >= {TargetRatio:0}x{SummaryWriter.NotMet(top.Ratio >= TargetRatio)})");
if (logging is not null)
    summary.Line($"logging on vs off at {logging.Senders} senders: {logging.Ratio:0.00}x " +
                      $"(target >= {LoggingTarget:0.00}x{SummaryWriter.NotMet(logging.Ratio >= LoggingTarget)})");
Console.WriteLine($"Summary: {await summary.WriteAsync()}");
if (problems.Count > 0)
{
    Console.Error.WriteLine($"FAILED: {problems.Count} problem(s): acknowledged messages missing/duplicated or calls failed (see '!!' above).");
    return 1;
}
return 0;

// Publishes a fresh database for the grains to write into; returns its id.
async Task<long> Publish(string name, ModuleSettings settings)
{
    var publish = await host!.Services.GetRequiredService<IGrainFactory>().GetDatabaseGrain(name).Publish(owner, clear: false, settings: settings);
    if (!publish.Result.IsCommitted)
        throw new InvalidOperationException($"publishing {name} failed: {publish.Result}");
    return publish.Database!.Id;
}

// Sender i's call through the message log grain of `database`: null when acknowledged as committed, else why not.
Func<int, CancellationToken, Task<string?>> SendThroughGrain(string database, Identity[] identities)
{
    var log = host!.Services.GetRequiredService<IGrainFactory>().GetMessageLogGrain(database);
    return async (i, _) =>
    {
        var result = (await log.SendMessages([new MessageToSend(new ReducerCaller(identities[i]), Text(i))]))[0];
        return result.IsCommitted ? null : result.ToString();
    };
}

// Each side is measured in `rounds` slices, the order mirrored from round to round (a b b a ... or b a a b ..., starting
// with side `first`): drift on a shared machine (other tenants, WAL growth, autovacuum) then hits both sides alike
// instead of whichever happened to run second. Each side is warmed up first, in the order of the first slices.
async Task<(Phase[] Warm, List<Phase>[] Slices, string Order)> Compare(string title, int senders, int first, Side[] sides)
{
    var order = new List<int>();
    for (var round = 0; round < rounds; round++)
        order.AddRange((round + first) % 2 == 0 ? [0, 1] : [1, 0]);
    var orderText = string.Concat(order.Select(s => sides[s].Letter));
    Console.WriteLine($"-- {title}, order {orderText} ({string.Join(", ", sides.Select(s => $"{s.Letter} = {s.Label}"))})");
    var warm = new Phase[2];
    var slices = new[] { new List<Phase>(), new List<Phase>() };
    foreach (var s in order.Distinct())
        warm[s] = await Load.Drive(senders, warmup, sides[s].Send, cancel.Token);
    foreach (var s in order)
        slices[s].Add(await Load.Drive(senders, duration / rounds, sides[s].Send, cancel.Token));
    return (warm, slices, orderText);
}

static List<string> Failures(string label, Phase warm, Phase run) =>
    [.. new[] { warm, run }.Where(p => p.Failures > 0).Select(p => $"{label}: {p.Failures} calls not committed, first: {p.FirstError}")];

// Prints one side's line (and its problems) and records them.
Measured Summarize(string title, string label, Phase warm, List<Phase> slices, double groupSize, List<string> issues, string extra)
{
    var run = Phase.Combine(slices);
    var perSlice = slices.Select(p => p.PerSecond).ToArray();
    foreach (var issue in issues)
        Console.Error.WriteLine($"!! {title}, {issue}");
    problems.AddRange(issues);
    Console.WriteLine($"   {label,-11} {run.PerSecond,9:0} msg/s  p50 {run.PercentileMs(0.5),7:0.00} ms  p99 {run.PercentileMs(0.99),7:0.00} ms" +
                      $"  group {groupSize,5:0.0}  {run.CpuMicrosecondsPerMessage,4:0} cpu-us/msg, {run.Cpu}" +
                      $"  rows {(issues.Count == 0 ? "verified" : "WRONG")}{extra}  slices {string.Join("/", perSlice.Select(r => r.ToString("0", CultureInfo.InvariantCulture)))} msg/s");
    return new Measured(run.Total, run.Failures + warm.Failures, run.Elapsed.TotalSeconds, run.PerSecond, perSlice,
        run.PercentileMs(0.5), run.PercentileMs(0.99), groupSize, run.CpuMicrosecondsPerMessage, run.Cpu, issues.Count == 0);
}

static string OnOff(bool on) => on ? "ON" : "OFF";

// Same text shape on both sides; short like a chat line.
static string Text(int sender) => $"hello from bench sender {sender}, how is everyone?";

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

internal sealed record Measured(long Messages, long Failures, double Seconds, double MessagesPerSecond, double[] SliceMessagesPerSecond, double P50Ms, double P99Ms,
    double AverageGroupSize, double CpuMicrosecondsPerMessage, CpuUse Cpu, bool RowsVerified);
internal sealed record LevelResult(int Senders, string Order, Measured Grains, Measured Baseline, double Ratio);
internal sealed record LoggingResult(int Senders, string Order, Measured Off, Measured On, double Ratio, double Target, long OffLogRows, long OnLogRows);
internal sealed record Side(string Label, char Letter, Func<int, CancellationToken, Task<string?>> Send);
/// <param name="GrainsLogMessages">The LogMessages setting of the grains databases in <paramref name="Levels"/>.</param>
/// <param name="Logging">Logging off against on; null when skipped.</param>
internal sealed record Report(DateTime StartedUtc, int Cores, double SecondsPerSide, int SlicesPerSide, double WarmupSeconds, string Postgres,
    bool GrainsLogMessages, List<LevelResult> Levels, LoggingResult? Logging, List<string> Problems);
