// Fan-out from commit to delivery: N clients subscribed to SELECT * FROM Message through the real gateway (silo + gateway
// in this process, durable PostgreSQL) receive every message a sender commits; beside it, in the same run and process,
// a bare gRPC server stream pushes the same payloads at the same pace to the same number of connections.
// Usage: dotnet run -c Release --project bench/Chat.FanoutBench -- [--quick] [--connections 1,100,1000] [--seconds N]
//        [--rate MSG_PER_S | --rates R1,R2,...] [--in-flight N] [--no-warmup]
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Chat.FanoutBench;
using Chat.Development;
using Chat.Storage;
using Grpc.Core;
using V1 = Chat.Api.V1;

const double TargetRatio = 0.5;
int[] levels = [1, 100, 1000];
var seconds = 3.0;
double[]? rates = null;
var maxInFlight = 256;
var warmup = true;
try
{
    for (var i = 0; i < args.Length; i++)
        switch (args[i])
        {
            case "--quick": levels = [1, 10, 100]; seconds = 2; break;
            case "--connections": levels = args[++i].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
            case "--seconds": seconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
            case "--rate": rates = [double.Parse(args[++i], CultureInfo.InvariantCulture)]; break;
            case "--rates": rates = args[++i].Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
            case "--in-flight": maxInFlight = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
            case "--no-warmup": warmup = false; break;
            default: throw new FormatException($"unknown argument '{args[i]}'");
        }
    if (levels.Length == 0 || levels.Any(n => n is < 1 or > 5000) || seconds is <= 0 or > 60 || maxInFlight is < 1 or > 1000
        || rates is not null && (rates.Any(r => r is <= 0 or > 5000) || rates.Length != 1 && rates.Length != levels.Length))
        throw new FormatException("need 1..5000 connections per level, 0 < seconds <= 60, 0 < rate <= 5000 (one, or one per level), 1..1000 in flight");
}
catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
{
    Console.Error.WriteLine($"{e.Message}\nusage: Chat.FanoutBench [--quick] [--connections 1,100,1000] [--seconds N] [--rate R | --rates R1,R2,...] " +
                            "[--in-flight N] [--no-warmup]");
    return 2;
}

// The default pace: 200 messages/s, fewer at 1,000 connections so that a round stays a few seconds on a small machine
// (the offered load, rate x connections, is printed with the results).
double RateFor(int index, int connections) => rates is null ? Math.Min(200, 100_000.0 / connections) : rates.Length == 1 ? rates[0] : rates[index];

using var cancel = new CancellationTokenSource();
void Stop(PosixSignalContext context)
{
    context.Cancel = true; // unwind through the finally blocks so that the throwaway server is destroyed
    Console.Error.WriteLine("Stopping...");
    cancel.Cancel();
}
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

var started = DateTime.UtcNow;
var clock = Stopwatch.StartNew();
var results = new List<LevelResult>();
var problems = new List<string>();
Console.WriteLine($"Chat.FanoutBench: connections {string.Join(",", levels)}, {seconds:0.#} s of sending per side, {Environment.ProcessorCount} cores, " +
                  $"latency = delivery minus the stamp taken just before the send (stack: the unary SendMessage call; baseline: queueing)");

// Not cancellable: a start abandoned half-way could leave a server running that nobody stops.
var postgres = await LocalPostgresCluster.StartAsync(Path.Combine(Path.GetTempPath(), $"chat-fanout-{Guid.NewGuid():N}"), durable: true);
StackHost? stack = null;
BaselineHost? baseline = null;
int? postmaster = null;
CpuUse? idle = null;
try
{
    postmaster = int.Parse(File.ReadLines(Path.Combine(postgres.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
    await ChatSchema.MigrateAsync(postgres.ConnectionString, cancellationToken: cancel.Token);
    stack = await StackHost.StartAsync(postgres.ConnectionString, "chat-fanout-bench", cancel.Token);
    baseline = await BaselineHost.StartAsync(cancel.Token);
    Console.WriteLine($"PostgreSQL (durable) on port {postgres.Port}, silo + gateway at {stack.Address}, baseline at {baseline.Address} " +
                      $"({clock.Elapsed.TotalSeconds:0.0} s to start)");

    var ownerIdentity = await stack.Chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: cancel.Token);
    var owner = new Metadata { { "authorization", "Bearer " + ownerIdentity.Token } };

    if (warmup)
    {
        // JIT and first activations on both paths; not reported, but verified like the rest.
        var w1 = await RunStack("fanout-warmup", 10, 100, 500, owner);
        var w2 = await RunBaseline(10, 100, 500, ownerIdentity.Identity);
        foreach (var p in w1.Problems.Concat(w2.Problems)) problems.Add($"warm-up: {p}");
        Console.WriteLine($"warm-up done ({clock.Elapsed.TotalSeconds:0.0} s)");
    }

    // After the warm-up the tiered JIT recompiles in the background for a few seconds (most of a core here): let it settle,
    // so that it is not charged to the first level. What remains is the floor under cpu-us/delivery at low rates.
    var settling = Stopwatch.StartNew();
    do
    {
        var idleSampler = new CpuSampler(postmaster);
        await Task.Delay(TimeSpan.FromSeconds(1), cancel.Token);
        idle = idleSampler.Stop();
    } while (idle.ProcessCores > 0.1 && settling.Elapsed < TimeSpan.FromSeconds(15));
    Console.WriteLine($"idle after {settling.Elapsed.TotalSeconds:0} s: {idle}");

    for (var index = 0; index < levels.Length; index++)
    {
        var n = levels[index];
        var rate = RateFor(index, n);
        var messages = Math.Max(2, (int)Math.Round(rate * seconds));
        Console.WriteLine($"-- {n} connections: {messages} messages at {rate:0.#}/s (offered {rate * n:0} deliveries/s), " +
                          $"{(index % 2 == 0 ? "stack first" : "baseline first")}");
        SideResult stackResult, baselineResult;
        if (index % 2 == 0)
        {
            stackResult = await RunStack($"fanout-{index + 1}-{n}", n, messages, rate, owner);
            baselineResult = await RunBaseline(n, messages, rate, ownerIdentity.Identity);
        }
        else
        {
            baselineResult = await RunBaseline(n, messages, rate, ownerIdentity.Identity);
            stackResult = await RunStack($"fanout-{index + 1}-{n}", n, messages, rate, owner);
        }
        foreach (var p in stackResult.Problems) problems.Add($"{n} connections, stack: {p}");
        foreach (var p in baselineResult.Problems) problems.Add($"{n} connections, baseline: {p}");
        results.Add(new LevelResult(n, messages, rate, stackResult, baselineResult, stackResult.DeliveriesPerSecond / baselineResult.DeliveriesPerSecond));
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
    if (baseline is not null) await baseline.DisposeAsync();
    if (stack is not null) await stack.DisposeAsync();
    await postgres.DestroyAsync();
}

var summary = new SummaryWriter("fanout", started, "Chat.FanoutBench");
summary.Line();
summary.Line("Deliveries = message rows received, summed over connections; per second over first send .. last delivery.");
summary.Line("Latency = delivery - stamp just before the send (stack: before the unary SendMessage call, so it includes the durable commit).");
summary.Line();
summary.Line("connections | msgs @ rate/s | offered/s | stack deliveries/s | baseline deliveries/s | ratio | stack p50 / p99 ms | baseline p50 / p99 ms | cpu-us/delivery s / b");
summary.Line("------------|---------------|-----------|--------------------|-----------------------|-------|--------------------|-----------------------|----------------------");
foreach (var r in results)
    summary.Line($"{r.Connections,11} | {r.Messages,5} @ {r.Rate,5:0.#} | {r.Rate * r.Connections,9:0} | {r.Stack.DeliveriesPerSecond,18:0} | {r.Baseline.DeliveriesPerSecond,21:0} | " +
                      $"{r.Ratio,4:0.00}x | {Latency(r.Stack),18} | {Latency(r.Baseline),21} | {r.Stack.CpuMicrosecondsPerDelivery,10:0.0} / {r.Baseline.CpuMicrosecondsPerDelivery,-9:0.0}");
summary.Line();
foreach (var r in results)
{
    // At an offered load both sides carry, deliveries/s equal the offered load on both and the ratio is ~1 by construction.
    var keptUp = r.Stack.DeliveriesPerSecond >= 0.95 * r.Rate * r.Connections && r.Baseline.DeliveriesPerSecond >= 0.95 * r.Rate * r.Connections;
    summary.Line($"fan-out at {r.Connections} connections: {r.Ratio:0.00}x baseline (target >= {TargetRatio:0.0}x{SummaryWriter.NotMet(r.Ratio >= TargetRatio)})" +
                      (keptUp ? "; both sides kept up with the offered load, so compare latency" : ""));
}

var file = await ResultFiles.WriteJsonAsync("fanout", started,
    new Report(started, Environment.ProcessorCount, seconds, maxInFlight, TargetRatio, clock.Elapsed.TotalSeconds, idle, results, problems));
summary.Line();
summary.Line($"Results: {file} (total {clock.Elapsed.TotalSeconds:0} s)");

Console.WriteLine($"Summary: {await summary.WriteAsync()}");
if (problems.Count > 0)
{
    foreach (var p in problems.Take(20)) Console.Error.WriteLine($"!! {p}");
    Console.Error.WriteLine($"FAILED: {problems.Count} problem(s): a connection missed, repeated or reordered messages, or a send failed.");
    return 1;
}
Console.WriteLine("Verified: every connection received every message exactly once, in offset order, on both sides.");
return 0;

// One stack round: publish a fresh database (no rate limit), N subscribers, the paced sender, wait for every delivery.
async Task<SideResult> RunStack(string database, int n, int messages, double rate, Metadata owner)
{
    await stack!.Databases.PublishAsync(new V1.PublishRequest { Database = database, Settings = new V1.DatabaseSettings { MessagesPerSecond = 0 } },
        owner, cancellationToken: cancel.Token);
    var round = new Round(n, messages);
    var opening = Stopwatch.StartNew();
    await using var clients = await StackClients.OpenAsync(stack.Address, database, round, cancel.Token);
    var opened = opening.Elapsed;
    var sampler = new CpuSampler(postmaster);
    var issues = await StackSender.SendAsync(stack.Chat, owner, database, round, rate, maxInFlight, cancel.Token);
    issues.AddRange(await WaitAll(round));
    var cpu = sampler.Stop();
    await clients.CloseAsync(cancel.Token); // a duplicate arriving late would show here
    return Summarize("stack", round, cpu, issues, opened);
}

// One baseline round: N listeners, the paced publisher, wait for every delivery, then end the streams.
async Task<SideResult> RunBaseline(int n, int messages, double rate, string sender)
{
    var round = new Round(n, messages);
    var opening = Stopwatch.StartNew();
    await using var clients = await BaselineClients.OpenAsync(baseline!.Address, round, cancel.Token);
    var opened = opening.Elapsed;
    var sampler = new CpuSampler(postmaster);
    var issues = await BaselinePublisher.PublishAsync(baseline.Hub, sender, round, rate, cancel.Token);
    issues.AddRange(await WaitAll(round));
    var cpu = sampler.Stop();
    baseline.Hub.CompleteAll();
    await clients.WaitEndedAsync();
    return Summarize("baseline", round, cpu, issues, opened);
}

// Every connection has everything, or a connection saw something wrong (listed by Round.Problems), or a stall.
Task<List<string>> WaitAll(Round round) => round.WaitAllAsync(cancel.Token);

SideResult Summarize(string side, Round round, CpuUse cpu, List<string> issues, TimeSpan opened)
{
    issues.AddRange(round.Problems());
    var result = SideResult.From(round, cpu, issues);
    var commit = double.IsNaN(result.CommitP50Ms) ? "" :
        $"\n            of which send->ack (commit) p50 {result.CommitP50Ms:0.00} p99 {result.CommitP99Ms:0.00} ms, ack->delivery p50 {result.AfterCommitP50Ms:0.00} p99 {result.AfterCommitP99Ms:0.00} ms";
    Console.WriteLine($"   {side,-8} {result.DeliveriesPerSecond,9:0} deliveries/s over {result.WindowSeconds:0.00} s  " +
                      $"latency p50 {result.P50Ms,7:0.00} p99 {result.P99Ms,7:0.00} max {result.MaxMs,7:0.00} ms  sent at {result.SendRate:0}/s  " +
                      $"connected in {opened.TotalSeconds:0.0} s{commit}\n            {cpu}, {result.CpuMicrosecondsPerDelivery:0.0} process cpu-us/delivery" +
                      $"{(issues.Count == 0 ? "" : $"\n   !! {issues.Count} problem(s): {issues[0]}")}");
    return result;
}

static string Latency(SideResult r) => $"{r.P50Ms:0.0} / {r.P99Ms:0.0}";

internal sealed record LevelResult(int Connections, int Messages, double Rate, SideResult Stack, SideResult Baseline, double Ratio);
internal sealed record Report(DateTime StartedUtc, int Cores, double SecondsOfSending, int MaxInFlight, double TargetRatio, double TotalSeconds,
    CpuUse? Idle, List<LevelResult> Levels, List<string> Problems);
