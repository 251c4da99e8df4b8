using System.Diagnostics;

namespace Chat.Bench;

/// <summary>What one timed phase did: per-sender acknowledgements, failures, wall time, sorted latencies, CPU.</summary>
public sealed record Phase(long[] Acked, long Failures, string? FirstError, TimeSpan Elapsed, long[] SortedLatencyTicks, CpuUse Cpu)
{
    public long Total => Acked.Sum();
    public double PerSecond => Total / Elapsed.TotalSeconds;

    /// <summary>CPU of bench + silo + PostgreSQL per acknowledged message: far less moved by other tenants than msg/s.</summary>
    public double CpuMicrosecondsPerMessage => (Cpu.BenchCores + Cpu.PostgresCores) * Elapsed.TotalSeconds / Total * 1e6;

    /// <summary>Nearest-rank percentile of the individual calls (never an average of percentiles).</summary>
    public double PercentileMs(double q) => SortedLatencyTicks.Length == 0
        ? double.NaN
        : SortedLatencyTicks[Math.Max(0, (int)Math.Ceiling(q * SortedLatencyTicks.Length) - 1)] * 1000.0 / Stopwatch.Frequency;

    /// <summary>Slices of one side taken at different times, as one measurement: totals, all calls' latencies, time-weighted CPU.</summary>
    public static Phase Combine(IReadOnlyList<Phase> slices)
    {
        var elapsed = slices.Aggregate(TimeSpan.Zero, (sum, p) => sum + p.Elapsed);
        double Weighted(Func<CpuUse, double> metric) => slices.Sum(p => metric(p.Cpu) * p.Elapsed.TotalSeconds) / elapsed.TotalSeconds;
        var latencies = slices.SelectMany(p => p.SortedLatencyTicks).ToArray();
        Array.Sort(latencies);
        return new Phase(
            Enumerable.Range(0, slices[0].Acked.Length).Select(i => slices.Sum(p => p.Acked[i])).ToArray(),
            slices.Sum(p => p.Failures),
            slices.Select(p => p.FirstError).FirstOrDefault(e => e is not null),
            elapsed,
            latencies,
            new CpuUse(Weighted(c => c.MachineCores), Weighted(c => c.IowaitPercent), Weighted(c => c.BenchCores), Weighted(c => c.PostgresCores)));
    }
}

/// <summary>Average cores busy over a phase: the whole machine, this process (bench + silo), our PostgreSQL, and everyone else.</summary>
public sealed record CpuUse(double MachineCores, double IowaitPercent, double BenchCores, double PostgresCores)
{
    public double OtherCores => MachineCores - BenchCores - PostgresCores;

    public override string ToString() =>
        $"cpu cores: bench {BenchCores:0.00} + postgres {PostgresCores:0.00} + others {OtherCores:0.00} (iowait {IowaitPercent:0}%)";
}

public static class Load
{
    /// <summary>
    /// <paramref name="senders"/> workers, each with exactly one call outstanding, until <paramref name="duration"/>
    /// is over. <paramref name="send"/> returns null when the message was acknowledged as committed, else why not.
    /// The clock stops when the last in-flight call has returned, so that every counted message is inside it.
    /// </summary>
    public static async Task<Phase> Drive(int senders, TimeSpan duration, Func<int, CancellationToken, Task<string?>> send, CancellationToken cancel)
    {
        var acked = new long[senders];
        var latencies = new List<long>[senders];
        long failures = 0;
        string? firstError = null;
        var cpu = CpuSampler.Start();
        var clock = Stopwatch.StartNew();

        async Task Worker(int i)
        {
            latencies[i] = new List<long>(4096);
            while (clock.Elapsed < duration && !cancel.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                string? error;
                try { error = await send(i, cancel); }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested) { break; }
                catch (Exception e) { error = $"{e.GetType().Name}: {e.Message}"; }
                if (error is null)
                {
                    latencies[i].Add(Stopwatch.GetTimestamp() - started);
                    acked[i]++;
                }
                else
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstError, error, null);
                }
            }
        }

        // Task.Run so that the workers start together rather than one after another's first await.
        await Task.WhenAll(Enumerable.Range(0, senders).Select(i => Task.Run(() => Worker(i), CancellationToken.None)));
        clock.Stop();
        cancel.ThrowIfCancellationRequested();
        var all = latencies.SelectMany(l => l).ToArray();
        Array.Sort(all);
        return new Phase(acked, failures, firstError, clock.Elapsed, all, cpu.Stop(clock.Elapsed));
    }
}

/// <summary>
/// CPU over a phase from /proc: the machine, this process (bench + silo) and our PostgreSQL server; the rest is other
/// tenants. On a shared 2-core box this tells who was starved. Linux only; NaN elsewhere.
/// </summary>
internal sealed class CpuSampler
{
    /// <summary>Our server's postmaster; its children are the backends, WAL writer, checkpointer...</summary>
    public static int? PostgresPid { get; set; }

    private const double TicksPerSecond = 100; // USER_HZ, fixed at 100 on Linux
    private readonly long[]? _machine = ReadMachine();
    private readonly long _postgres = ReadPostgres();
    private readonly TimeSpan _process = Process.GetCurrentProcess().TotalProcessorTime;

    public static CpuSampler Start() => new();

    public CpuUse Stop(TimeSpan elapsed)
    {
        var seconds = elapsed.TotalSeconds;
        var bench = (Process.GetCurrentProcess().TotalProcessorTime - _process).TotalSeconds / seconds;
        var postgres = PostgresPid is null ? double.NaN : (ReadPostgres() - _postgres) / TicksPerSecond / seconds;
        if (_machine is null || ReadMachine() is not { } now)
            return new CpuUse(double.NaN, double.NaN, bench, postgres);
        var delta = now.Zip(_machine, (a, b) => a - b).ToArray();
        double total = delta.Sum();
        // Fields: user nice system idle iowait irq softirq steal; idle and iowait are "not running".
        return new CpuUse(Environment.ProcessorCount * (total - delta[3] - delta[4]) / total, 100 * delta[4] / total, bench, postgres);
    }

    private static long[]? ReadMachine()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First();
            return line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(long.Parse).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>utime + stime of the postmaster and its live children, plus what its exited children used (cutime + cstime).</summary>
    private static long ReadPostgres()
    {
        if (PostgresPid is not { } postmaster) return 0;
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; } // exited meanwhile
            // After the command name in parentheses: state, ppid, ... utime at [11], stime [12], cutime [13], cstime [14].
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (pid == postmaster) ticks += long.Parse(f[11]) + long.Parse(f[12]) + long.Parse(f[13]) + long.Parse(f[14]);
            else if (int.Parse(f[1]) == postmaster) ticks += long.Parse(f[11]) + long.Parse(f[12]);
        }
        return ticks;
    }
}
