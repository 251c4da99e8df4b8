// send_message throughput through the grains (group commit, durable PostgreSQL) against a baseline
// measured in the same run on the same server: one INSERT + one commit per message through Npgsql.
// Usage: dotnet run -c Release --project bench/Chat.Bench -- [--quick] [--seconds N] [--warmup N] [--rounds N] [--senders 1,16,64]
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Chat;
using Chat.Bench;
using Chat.Grains;
using Chat.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;

const double TargetRatio = 5;
var seconds = 5.0;
var warmupSeconds = 1.0;
var rounds = 2;
int[] levels = [1, 16, 64];
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
            default: throw new FormatException($"unknown argument '{args[i]}'");
        }
    // Up to 100: the baseline's Npgsql pool (default size) must give every sender its own connection.
    if (seconds <= 0 || warmupSeconds < 0 || rounds < 1 || levels.Length == 0 || levels.Any(c => c is < 1 or > 100))
        throw new FormatException("need --seconds > 0, --warmup >= 0, --rounds >= 1 and senders between 1 and 100");
}
catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
{
    Console.Error.WriteLine($"{e.Message}\nusage: Chat.Bench [--quick] [--seconds N] [--warmup N] [--rounds N] [--senders 1,16,64]");
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

Console.WriteLine($"Chat.Bench: senders {string.Join(",", levels)}, {seconds:0.#} s per side in {rounds} slices after {warmupSeconds:0.#} s warm-up, " +
                  $"{Environment.ProcessorCount} cores");
var durability = "";
// Not cancellable: a start abandoned half-way could leave a server running that nobody stops (pg_ctl is bounded to 60 s).
var postgres = await LocalPostgresCluster.StartAsync(Path.Combine(Path.GetTempPath(), $"chat-bench-{Guid.NewGuid():N}"), durable: true);
IHost? host = null;
try
{
    CpuSampler.PostgresPid = int.Parse(File.ReadLines(Path.Combine(postgres.DataDirectory, "postmaster.pid")).First());
    var cs = postgres.ConnectionString;
    await ChatSchema.MigrateAsync(cs, cancellationToken: cancel.Token);
    await using var db = NpgsqlDataSource.Create(cs);
    await Sql.CreateBaselineTable(db);
    // The point is durable commits on both sides: refuse to measure anything less.
    durability = await Sql.Durability(db);
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
        silo.UseChatClustering(cs); // the production membership (ADO.NET, same PostgreSQL)
        silo.AddChat(cs);
    });
    host = builder.Build();
    await host.StartAsync(cancel.Token);
    var grains = host.Services.GetRequiredService<IGrainFactory>();
    var owner = Identity.Random();

    for (var index = 0; index < levels.Length; index++)
    {
        var senders = levels[index];
        var name = $"bench-{senders}";
        var publish = await grains.GetDatabaseGrain(name).Publish(owner, clear: false, settings: ModuleSettings.Default with { MessagesPerSecond = 0 });
        if (!publish.Result.IsCommitted)
            throw new InvalidOperationException($"publishing {name} failed: {publish.Result}");
        var databaseId = publish.Database!.Id;

        var identities = Enumerable.Range(0, senders).Select(_ => Identity.Random()).ToArray();
        var senderBytes = identities.Select(i => i.ToBytes()).ToArray();
        var log = grains.GetMessageLogGrain(name);
        async Task<string?> SendThroughGrain(int i, CancellationToken _)
        {
            var result = await log.SendMessage(new ReducerCaller(identities[i]), Text(i));
            return result.IsCommitted ? null : result.ToString();
        }
        Task<string?> SendToBaseline(int i, CancellationToken token) =>
            Sql.InsertBaseline(db, databaseId, senderBytes[i], Text(i), token);

        // Each side is measured in `rounds` slices, the order mirrored from round to round (b g g b ... or g b b g ...,
        // the starting side alternating per level): drift on a shared machine (other tenants, WAL growth, autovacuum)
        // then hits both sides alike instead of whichever happened to run second.
        (string Label, Func<int, CancellationToken, Task<string?>> Send)[] sides = [("baseline", SendToBaseline), ("grains", SendThroughGrain)];
        var order = new List<int>();
        for (var round = 0; round < rounds; round++)
            order.AddRange((round + index) % 2 == 0 ? [0, 1] : [1, 0]);
        var orderText = string.Concat(order.Select(s => sides[s].Label[0]));
        Console.WriteLine($"-- {senders} senders, order {orderText} (b = baseline, g = grains)");
        var warm = new Phase[2];
        var slices = new[] { new List<Phase>(), new List<Phase>() };
        foreach (var s in order.Distinct())
            warm[s] = await Load.Drive(senders, warmup, sides[s].Send, cancel.Token);
        foreach (var s in order)
            slices[s].Add(await Load.Drive(senders, duration / rounds, sides[s].Send, cancel.Token));

        var measured = new Measured[2];
        for (var s = 0; s < 2; s++)
        {
            var (label, run) = (sides[s].Label, Phase.Combine(slices[s]));
            var expected = identities.Select((id, i) => (Sender: id, Count: warm[s].Acked[i] + run.Acked[i])).ToArray();
            var issues = new List<string>();
            foreach (var phase in new[] { warm[s], run })
                if (phase.Failures > 0)
                    issues.Add($"{label}: {phase.Failures} calls not committed, first: {phase.FirstError}");
            issues.AddRange(s == 0
                ? await Sql.VerifyBaseline(db, databaseId, expected)
                : await Sql.VerifyMessages(db, name, expected));
            // Every grain slice starts after the grain warm-up has finished, so the measured rows are the offsets after it.
            var groupSize = s == 0 ? 1.0 : await Sql.AverageGroupSize(db, name, afterOffset: warm[s].Total);
            foreach (var issue in issues)
                Console.Error.WriteLine($"!! {senders} senders, {issue}");
            problems.AddRange(issues);
            Console.WriteLine($"   {label,-8} {run.PerSecond,9:0} msg/s  p50 {run.PercentileMs(0.5),7:0.00} ms  p99 {run.PercentileMs(0.99),7:0.00} ms" +
                              $"  group {groupSize,5:0.0}  {run.CpuMicrosecondsPerMessage,4:0} cpu-us/msg, {run.Cpu}" +
                              $"  rows {(issues.Count == 0 ? "verified" : "WRONG")}");
            measured[s] = new Measured(run.Total, run.Failures + warm[s].Failures, run.Elapsed.TotalSeconds, run.PerSecond,
                run.PercentileMs(0.5), run.PercentileMs(0.99), groupSize, run.CpuMicrosecondsPerMessage, run.Cpu, issues.Count == 0);
        }
        results.Add(new LevelResult(senders, orderText, measured[1], measured[0], measured[1].MessagesPerSecond / measured[0].MessagesPerSecond));
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

Console.WriteLine();
Console.WriteLine("senders | grains msg/s | baseline msg/s | ratio  | grains p50 ms | grains p99 ms | avg group | baseline p50 ms | cpu us/msg g / b | order");
Console.WriteLine("--------|-------------|----------------|--------|---------------|---------------|-----------|-----------------|------------------|------");
foreach (var r in results)
    Console.WriteLine($"{r.Senders,7} | {r.Grains.MessagesPerSecond,11:0} | {r.Baseline.MessagesPerSecond,14:0} | {r.Ratio,5:0.00}x | " +
                      $"{r.Grains.P50Ms,13:0.00} | {r.Grains.P99Ms,13:0.00} | {r.Grains.AverageGroupSize,9:0.0} | {r.Baseline.P50Ms,15:0.00} | " +
                      $"{r.Grains.CpuMicrosecondsPerMessage,7:0} / {r.Baseline.CpuMicrosecondsPerMessage,6:0} | {r.Order}");

var file = Path.Combine(RepositoryRoot(), "bench", "results", $"send-{started:yyyyMMdd-HHmmss}.json");
Directory.CreateDirectory(Path.GetDirectoryName(file)!);
await File.WriteAllTextAsync(file, JsonSerializer.Serialize(
    new Report(started, Environment.ProcessorCount, seconds, rounds, warmupSeconds, durability, results, problems),
    new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // a percentile of no calls is NaN
    }));
Console.WriteLine($"\nResults: {file}");

var top = results.MaxBy(r => r.Senders)!;
Console.WriteLine($"ratio at {top.Senders} senders: {top.Ratio:0.0}x (target >= {TargetRatio:0}x{(top.Ratio >= TargetRatio ? "" : ", NOT MET")})");
if (problems.Count > 0)
{
    Console.Error.WriteLine($"FAILED: {problems.Count} problem(s): acknowledged messages missing/duplicated or calls failed (see '!!' above).");
    return 1;
}
return 0;

// Same text shape on both sides; short like a chat line.
static string Text(int sender) => $"hello from bench sender {sender}, how is everyone?";

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static string RepositoryRoot()
{
    foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Chat.sln")))
                return dir.FullName;
    return Directory.GetCurrentDirectory();
}

internal sealed record Measured(long Messages, long Failures, double Seconds, double MessagesPerSecond, double P50Ms, double P99Ms,
    double AverageGroupSize, double CpuMicrosecondsPerMessage, CpuUse Cpu, bool RowsVerified);
internal sealed record LevelResult(int Senders, string Order, Measured Grains, Measured Baseline, double Ratio);
internal sealed record Report(DateTime StartedUtc, int Cores, double SecondsPerSide, int SlicesPerSide, double WarmupSeconds, string Postgres,
    List<LevelResult> Levels, List<string> Problems);
