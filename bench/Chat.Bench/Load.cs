using System.Diagnostics;

namespace Chat.Bench;

/// <summary>What one timed phase did: per-sender acknowledgements, failures, wall time, sorted latencies, CPU.</summary>
public sealed record Phase(long[] Acked, long Failures, string? FirstError, TimeSpan Elapsed, long[] SortedLatencyTicks, CpuUse Cpu)
{
    public long Total => Acked.Sum();
    public double PerSecond => Total / Elapsed.TotalSeconds;

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
            new CpuUse(Weighted(c => c.MachineBusyPercent), Weighted(c => c.IowaitPercent), Weighted(c => c.ProcessCores)));
    }
}

/// <summary>Machine-wide busy share of all cores, and this process (bench + silo) in cores, over a phase.</summary>
public sealed record CpuUse(double MachineBusyPercent, double IowaitPercent, double ProcessCores);

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

/// <summary>Reads /proc/stat and this process's CPU time; on a shared 2-core box this tells who was starved.</summary>
internal sealed class CpuSampler
{
    private readonly long[]? _machine = ReadMachine();
    private readonly TimeSpan _process = Process.GetCurrentProcess().TotalProcessorTime;

    public static CpuSampler Start() => new();

    public CpuUse Stop(TimeSpan elapsed)
    {
        var process = (Process.GetCurrentProcess().TotalProcessorTime - _process).TotalSeconds / elapsed.TotalSeconds;
        if (_machine is null || ReadMachine() is not { } now)
            return new CpuUse(double.NaN, double.NaN, process);
        var delta = now.Zip(_machine, (a, b) => a - b).ToArray();
        double total = delta.Sum();
        // Fields: user nice system idle iowait irq softirq steal ...; idle and iowait are "not running".
        return new CpuUse(100 * (total - delta[3] - delta[4]) / total, 100 * delta[4] / total, process);
    }

    private static long[]? ReadMachine()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First();
            return line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(long.Parse).ToArray();
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
