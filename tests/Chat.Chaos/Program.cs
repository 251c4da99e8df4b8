using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Chat.Chaos;

// dotnet run -c Release --project tests/Chat.Chaos -- --seed 7 --seconds 60        the chaos run (exit 1 on any violation)
// dotnet run -c Release --project tests/Chat.Chaos -- --failover [--kills 10]       time to service after a silo is killed
// dotnet run -c Release --project tests/Chat.Chaos -- --seed 7 --seconds 60 --plan-only   the fault schedule a seed names
// Options: --faults N, --databases N, --senders N (per database), --pace MS, --call-timeout S, --set Key=Value (to every silo and gateway)
var arguments = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
var settings = new Dictionary<string, string>();
for (var i = 0; i < args.Length; i++)
{
    var name = args[i].TrimStart('-');
    if (name is "failover" or "plan-only") { arguments[name] = "true"; continue; }
    if (i + 1 >= args.Length) return Usage($"{args[i]} needs a value");
    if (name == "set")
    {
        var pair = args[++i].Split('=', 2);
        if (pair.Length != 2) return Usage($"--set {args[i]}: expected Key=Value");
        settings[pair[0].Replace(":", "__", StringComparison.Ordinal)] = pair[1];
        continue;
    }
    arguments[name] = args[++i];
}
int Int(string name, int fallback) => arguments.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
double Double(string name, double fallback) => arguments.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

var seed = Int("seed", Environment.TickCount & 0xffff);
var seconds = Int("seconds", 60);
var failover = arguments.ContainsKey("failover");
// A hard bound on the whole run, whatever happens: everything started is killed and the exit code is 2.
var limit = failover
    ? TimeSpan.FromSeconds(120 + Int("kills", 10) * 90)
    : TimeSpan.FromSeconds(seconds + 240);

if (arguments.ContainsKey("plan-only") || args.Contains("--plan-only"))
{
    // The schedule a seed names, without running anything.
    foreach (var fault in FaultSchedule.Plan(seed, TimeSpan.FromSeconds(seconds), Int("faults", Math.Max(2, seconds / 8)), silos: 3, gateways: 2))
        Console.WriteLine(fault);
    return 0;
}

RunFolder.RemoveLeftovers();
var run = new RunFolder();
var clock = Stopwatch.StartNew();
Stack? stack = null;
using var cancel = new CancellationTokenSource();
var killed = 0;
void KillEverything()
{
    if (Interlocked.Exchange(ref killed, 1) == 1) return;
    stack?.KillAll();
}
AppDomain.CurrentDomain.ProcessExit += (_, _) => KillEverything();
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cancel.Cancel(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cancel.Cancel(); });
using var watchdog = new Timer(_ =>
{
    Console.Error.WriteLine($"chaos: the run exceeded its bound of {limit.TotalSeconds:0} s (seed {seed}); killing everything");
    KillEverything();
    Environment.Exit(2);
}, null, limit, Timeout.InfiniteTimeSpan);

Console.WriteLine($"chat chaos: seed {seed}, run folder {run.Path}{(settings.Count > 0 ? ", settings " + string.Join(" ", settings.Select(p => $"{p.Key}={p.Value}")) : "")}");
try
{
    int violations;
    if (failover)
    {
        var failoverRun = new FailoverRun(Int("databases", 20), Int("kills", 10), settings, run, clock);
        violations = await failoverRun.RunAsync(s => stack = s, cancel.Token);
    }
    else
    {
        var options = new ChaosOptions(seed, TimeSpan.FromSeconds(seconds), Int("faults", Math.Max(2, seconds / 8)), Int("databases", 3), Int("senders", 2),
            TimeSpan.FromMilliseconds(Int("pace", 20)), TimeSpan.FromSeconds(Double("call-timeout", 4)), TimeSpan.FromSeconds(Int("give-up", 45)), settings);
        violations = await new ChaosRun(options, run, clock).RunAsync(s => stack = s, cancel.Token);
    }
    Console.WriteLine();
    Console.WriteLine($"seed {seed}: {(violations == 0 ? "no violations" : $"{violations} violation(s)")} in {clock.Elapsed.TotalSeconds:0} s; logs of every process: {run.Logs}{(violations == 0 ? " (deleted)" : "")}");
    return violations == 0 ? 0 : 1;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine($"chaos: interrupted (seed {seed})");
    return 2;
}
catch (Exception e)
{
    Console.Error.WriteLine($"chaos: the run failed (seed {seed}): {e}");
    Console.Error.WriteLine($"logs of every process: {run.Logs}");
    return 2;
}
finally
{
    // Normal path: the stack was disposed (gateways, silos, PostgreSQL stopped) by the run; this is the safety net.
    KillEverything();
}

static int Usage(string problem)
{
    Console.Error.WriteLine($"chaos: {problem}");
    Console.Error.WriteLine("usage: Chat.Chaos [--seed N] [--seconds S] [--faults N] [--databases N] [--senders N] [--set Key=Value]...");
    Console.Error.WriteLine("       Chat.Chaos --failover [--kills 10] [--databases 20] [--set Key=Value]...");
    return 2;
}
