using System.Diagnostics;
using System.Globalization;
using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>
/// One phase of the noisy-neighbour scenario: the victim's figures with one attack beside it (none for the baselines), what
/// the attacker's calls got back, and the stack process's resident set before (settled), at its peak during, and after
/// (settled again, the attack stopped).
/// </summary>
public sealed record NoisyPhase(
    string Name,
    string? Attack,
    string? Source,
    string Done,
    VictimResult Victim,
    SortedDictionary<string, long> Outcomes,
    SortedDictionary<string, string> Examples,
    double AttackStopSeconds,
    long RssBeforeKb,
    long RssPeakKb,
    long RssAfterKb,
    bool GcForced,
    double DeliveryRatio,
    double ProbeRatio,
    string Verdict,
    List<string> Reasons);

public sealed record NoisySection(double WindowSeconds, double Rate, int Subscribers, double TargetRatio, string SourceCheck, List<NoisyPhase> Phases);

/// <summary>
/// Scenario 4, noisy neighbour (issue 12, hostile clients): a victim chats in its own database while one hostile client after
/// another attacks beside it, on the real stack binary with every limit at the default a public deployment keeps. The
/// victim's send->delivery p99 under each attack is set against the victim alone, measured first in the same run; the
/// target is at most 2x. The victim is 127.0.0.1; each attack comes from a loopback address of its own (127.0.0.11, ...),
/// so that the per-address limits meet the attacker, as they would in production, and not the victim.
/// </summary>
public sealed class NoisyScenario(Bench bench)
{
    public const double TargetRatio = 2;
    private const int Subscribers = 3;
    private const double Rate = 20; // the per-identity default of 20 msg/s: the victim stays within its own rate limit
    private static readonly TimeSpan RampUp = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(60);

    private static readonly IPAddress Victim = IPAddress.Loopback;
    private static readonly IPAddress AttackerSetup = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress SourceCheckAddress = IPAddress.Parse("127.0.0.9");

    private static IPAddress AttackSource(int attack) => IPAddress.Parse($"127.0.0.{11 + attack}");

    public async Task<NoisySection> RunAsync()
    {
        var options = bench.Options;
        var clock = Stopwatch.StartNew();
        var window = options.NoisySeconds;
        var settle = TimeSpan.FromSeconds(options.Quick ? 2 : 5);
        var attacks = NoisyAttacks.All(options.Quick).Where(a => options.Attacks.Contains(a.Name))
            .OrderBy(a => Array.IndexOf(options.Attacks, a.Name)).ToArray();
        Console.WriteLine($"== noisy: a victim ({Subscribers} subscribers, 1 sender at {Rate:0} msg/s, an SQL probe 4/s) alone, then beside each of " +
                          $"{string.Join(", ", attacks.Select(a => a.Name))}; {window:0.#} s of sending per phase; stack at its default limits");

        var dll = await ServerProcess.StackBinaryAsync(bench);
        // No settings: every gateway limit at its default, as a public deployment keeps them.
        await using var stack = await ServerProcess.StartStackAsync(bench, dll, "chat-load-noisy", new Dictionary<string, string>());
        Console.WriteLine($"stack process {stack.Child.Pid} ready at {stack.Address} ({clock.Elapsed.TotalSeconds:0.0} s)");

        var victim = await NoisyVictim.SetUpAsync(stack.Address, bench.Name("victim"), Subscribers, Rate, bench.Cancel);
        var (owner, databases) = await SetUpAttackerAsync(stack.Address, victim.Database);
        // Setup, not an attack: the rows come from several source addresses, each within its reducer-call burst.
        const int perAddress = 150;
        for (var first = 0; first < NoisyAttacks.SqlRows(options.Quick); first += perAddress)
            await NoisyAttacks.SeedAsync(stack.Address, IPAddress.Parse($"127.0.1.{1 + first / perAddress}"), owner, databases.Sql,
                first, Math.Min(perAddress, NoisyAttacks.SqlRows(options.Quick) - first), bench.Cancel);
        var sourceCheck = await CheckSourceAddressesAsync(stack.Address);
        Console.WriteLine($"source addresses: {sourceCheck}");
        Console.WriteLine($"set up: victim database {victim.Database}; attacker databases {databases.Subscriptions}, {databases.Stalled}, {databases.Sql} " +
                          $"({NoisyAttacks.SqlRows(options.Quick):N0} rows) ({clock.Elapsed.TotalSeconds:0.0} s)");

        // JIT and first activations on the victim's path; not reported.
        await using (var warm = await victim.OpenAsync("warmup", 2))
            await warm.MeasureAsync();

        var phases = new List<NoisyPhase>();
        var (_, rss) = await stack.SettledRssAsync(bench.Cancel);
        NoisyPhase? baseline = null;
        var plan = new List<(string Name, Attack? Attack, int Index)> { ("baseline", null, -1) };
        plan.AddRange(attacks.Select(a => (a.Name, (Attack?)a, Array.IndexOf(NoisyAttacks.Names, a.Name))));
        plan.Add(("baseline again", null, -1));
        foreach (var (name, attack, index) in plan)
        {
            var phase = await RunPhase(stack, victim, databases, owner, name, attack, index, window, settle, rss, baseline);
            baseline ??= phase;
            rss = phase.RssAfterKb;
            phases.Add(phase);
            Print(phase);
            if (stack.Child.HasExited) throw new InvalidOperationException($"the stack process exited during the {name} phase:\n{stack.Child.Output}");
        }
        await stack.StopAsync();
        Console.WriteLine($"noisy done ({clock.Elapsed.TotalSeconds:0} s)");
        return new NoisySection(window, Rate, Subscribers, TargetRatio, sourceCheck, phases);
    }

    /// <summary>The attacker's owner identity (from its own address) and its three databases; the ones it floods have the rate limit off, its owner's choice.</summary>
    private async Task<(Metadata Owner, NoisyDatabases Databases)> SetUpAttackerAsync(string address, string victimDatabase)
    {
        using var channel = AttackRun.SourceChannel(address, AttackerSetup);
        var identity = await new V1.Chat.ChatClient(channel).CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: bench.Cancel);
        var owner = new Metadata { { "authorization", "Bearer " + identity.Token } };
        var databases = new NoisyDatabases(victimDatabase, bench.Name("attacker-subscriptions"), bench.Name("attacker-stalled"), bench.Name("attacker-sql"));
        var client = new V1.Databases.DatabasesClient(channel);
        await client.PublishAsync(new V1.PublishRequest { Database = databases.Subscriptions }, owner, cancellationToken: bench.Cancel);
        foreach (var flooded in new[] { databases.Stalled, databases.Sql })
            await client.PublishAsync(new V1.PublishRequest { Database = flooded, Settings = new V1.DatabaseSettings { MessagesPerSecond = 0 } }, owner,
                cancellationToken: bench.Cancel);
        return (owner, databases);
    }

    /// <summary>
    /// That the gateway tells the addresses apart: one loopback address spends its whole identity burst and is refused by
    /// name, while 127.0.0.1, whose budget the victim drew on, is still served.
    /// </summary>
    private async Task<string> CheckSourceAddressesAsync(string address)
    {
        using var channel = AttackRun.SourceChannel(address, SourceCheckAddress);
        var chat = new V1.Chat.ChatClient(channel);
        for (var made = 0; made < 1000; made++)
        {
            try
            {
                await chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: bench.Cancel);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
            {
                if (!e.Status.Detail.Contains(SourceCheckAddress.ToString(), StringComparison.Ordinal))
                    throw new InvalidOperationException($"the gateway refused {SourceCheckAddress} but did not name it: {e.Status.Detail}");
                using var victimChannel = GrpcChannel.ForAddress(address);
                await new V1.Chat.ChatClient(victimChannel).CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: bench.Cancel);
                return $"the gateway refused {SourceCheckAddress} after {made} new identities, naming it (\"{e.Status.Detail[..Math.Min(90, e.Status.Detail.Length)]}…\"), " +
                       $"and still served {Victim}: attackers and victim are separate client addresses";
            }
        }
        throw new InvalidOperationException($"{SourceCheckAddress} made 1,000 identities without a refusal: the stack does not run with its default per-address limits");
    }

    private async Task<NoisyPhase> RunPhase(ServerProcess stack, NoisyVictim victim, NoisyDatabases databases, Metadata owner, string name, Attack? attack, int index,
        double window, TimeSpan settle, long rssBefore, NoisyPhase? baseline)
    {
        var tag = $"{name.Replace(' ', '-')}-{Guid.NewGuid().ToString("N")[..4]}";
        await using var session = await victim.OpenAsync(tag, window);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(bench.Cancel);
        var source = attack is null ? null : AttackSource(index);
        var run = new AttackRun(stack.Address, source ?? Victim, owner, databases, bench.Options.Quick, tag, stop.Token);
        using var sampling = new CancellationTokenSource();
        var peak = Task.Run(() => PeakRss(stack.Child.Pid, sampling.Token), CancellationToken.None);
        var attacking = attack is null ? Task.FromResult("") : Task.Run(() => attack.RunAsync(run), CancellationToken.None);
        if (attack is not null) await Task.Delay(RampUp, bench.Cancel);

        var seen = await session.MeasureAsync();

        stop.Cancel();
        var stopping = Stopwatch.StartNew();
        string done;
        try
        {
            done = await attacking.WaitAsync(StopBound, bench.Cancel);
        }
        catch (TimeoutException)
        {
            done = $"did not stop within {StopBound.TotalSeconds:0} s";
            bench.Problems.Add($"noisy {name}: the attack did not stop within {StopBound.TotalSeconds:0} s of the end of its phase");
        }
        catch (Exception e) when (e is not OperationCanceledException || !bench.Cancel.IsCancellationRequested)
        {
            done = $"failed: {e.GetBaseException().Message}";
            bench.Problems.Add($"noisy {name}: the attack itself failed: {e}");
        }
        var stopSeconds = stopping.Elapsed.TotalSeconds;
        run.DisposeChannels();
        await session.DisposeAsync();
        await Task.Delay(settle, bench.Cancel);
        sampling.Cancel();
        var peakKb = Math.Max(rssBefore, await peak);
        var (gc, after) = await stack.SettledRssAsync(bench.Cancel);

        var deliveryRatio = baseline is null ? 1 : seen.DeliveryP99Ms / baseline.Victim.DeliveryP99Ms;
        var probeRatio = baseline is null ? 1 : seen.ProbeP99Ms / baseline.Victim.ProbeP99Ms;
        var reasons = new List<string>();
        if (deliveryRatio > TargetRatio || double.IsNaN(deliveryRatio)) reasons.Add($"send->delivery p99 {deliveryRatio:0.00}x the baseline's");
        if (attack?.Name == "sql" && (probeRatio > TargetRatio || double.IsNaN(probeRatio))) reasons.Add($"SQL probe p99 {probeRatio:0.00}x the baseline's");
        if (seen.Failures.Count > 0) reasons.Add($"the victim saw failures: {seen.Failures[0]}");
        var verdict = attack is null ? (baseline is null ? "reference" : "drift") : reasons.Count == 0 ? "MET" : "NOT MET";
        return new NoisyPhase(name, attack?.Description, source?.ToString(), done, seen, run.Outcomes.Counts, run.Outcomes.Examples, stopSeconds,
            rssBefore, peakKb, after, gc, deliveryRatio, probeRatio, verdict, reasons);
    }

    /// <summary>The stack's VmRSS, sampled (without forcing a GC) every 200 ms until cancelled; the highest seen, in KB.</summary>
    private static async Task<long> PeakRss(int pid, CancellationToken stop)
    {
        var peak = 0L;
        while (!stop.IsCancellationRequested)
        {
            try { peak = Math.Max(peak, ProcessMemory.RssKb(pid)); }
            catch (Exception e) when (e is IOException or InvalidOperationException) { break; }
            try { await Task.Delay(200, stop); }
            catch (OperationCanceledException) { }
        }
        return peak;
    }

    private static void Print(NoisyPhase p)
    {
        var v = p.Victim;
        Console.WriteLine($"-- {p.Name}{(p.Source is null ? "" : $" (from {p.Source})")}: {p.Attack ?? "the victim alone"}");
        Console.WriteLine($"   victim: send->delivery p50 {v.DeliveryP50Ms:0.00} p99 {v.DeliveryP99Ms:0.00} max {v.DeliveryMaxMs:0.00} ms ({p.DeliveryRatio:0.00}x baseline p99), " +
                          $"commit->delivery p99 {v.CommitP99Ms:0.00}, send->ack p99 {v.AckP99Ms:0.00} ms; {v.Deliveries}/{v.ExpectedDeliveries} deliveries of {v.Acked}/{v.Sent} acknowledged; " +
                          $"SQL probe p50 {v.ProbeP50Ms:0.00} p99 {v.ProbeP99Ms:0.00} ms ({p.ProbeRatio:0.00}x) over {v.Probes}, {v.ProbeFailures} failed");
        if (p.Attack is not null)
            Console.WriteLine($"   attack: {p.Done}; stopped {p.AttackStopSeconds:0.0} s after the phase ended; outcomes: {OutcomeText(p.Outcomes)}");
        foreach (var (label, example) in p.Examples.Where(e => !e.Key.EndsWith(" OK", StringComparison.Ordinal)).Take(6))
            Console.WriteLine($"      {label}: \"{example}\"");
        Console.WriteLine($"   stack RSS {p.RssBeforeKb / 1024.0:0} MB before, {p.RssPeakKb / 1024.0:0} peak, {p.RssAfterKb / 1024.0:0} after{(p.GcForced ? "" : " (GC not forced)")}" +
                          $" -- {p.Verdict}{(p.Reasons.Count == 0 || p.Attack is null ? "" : ": " + string.Join("; ", p.Reasons))}");
        foreach (var failure in v.Failures.Skip(1).Take(3)) Console.WriteLine($"      victim: {failure}");
    }

    public static string OutcomeText(SortedDictionary<string, long> outcomes) =>
        outcomes.Count == 0 ? "-" : string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value.ToString("N0", CultureInfo.InvariantCulture)}"));
}
