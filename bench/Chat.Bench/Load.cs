using System.Diagnostics;

namespace Chat.Bench;

/// <summary>What one timed phase did: per-sender acknowledgements, failures, wall time, sorted latencies, CPU.</summary>
public sealed record Phase(long[] Acked, long Failures, string? FirstError, TimeSpan Elapsed, long[] SortedLatencyTicks, CpuUse Cpu)
{
    public long Total => Acked.Sum();
    public double PerSecond => Total / Elapsed.TotalSeconds;

    /// <summary>CPU of bench + silo + PostgreSQL per acknowledged message: far less moved by other tenants than msg/s.</summary>
    public double CpuMicrosecondsPerMessage => Cpu.PerMessageUs(Cpu.ProcessCores + Cpu.PostgresCores, Total);

    /// <summary>Nearest-rank percentile of the individual calls (never an average of percentiles).</summary>
    public double PercentileMs(double q) => SortedLatencyTicks.Length == 0
        ? double.NaN
        : SortedLatencyTicks[Math.Max(0, (int)Math.Ceiling(q * SortedLatencyTicks.Length) - 1)] * 1000.0 / Stopwatch.Frequency;

    /// <summary>Slices of one side taken at different times, as one measurement: totals, all calls' latencies, time-weighted CPU.</summary>
    public static Phase Combine(IReadOnlyList<Phase> slices)
    {
        var elapsed = slices.Aggregate(TimeSpan.Zero, (sum, p) => sum + p.Elapsed);
        var latencies = slices.SelectMany(p => p.SortedLatencyTicks).ToArray();
        Array.Sort(latencies);
        return new Phase(
            Enumerable.Range(0, slices[0].Acked.Length).Select(i => slices.Sum(p => p.Acked[i])).ToArray(),
            slices.Sum(p => p.Failures),
            slices.Select(p => p.FirstError).FirstOrDefault(e => e is not null),
            elapsed,
            latencies,
            CpuUse.Combine([.. slices.Select(p => p.Cpu)]));
    }
}

public static class Load
{
    /// <summary>Our PostgreSQL server's postmaster, whose CPU (with its backends') each phase reports.</summary>
    public static int? Postmaster { get; set; }

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
        var cpu = new CpuSampler(Postmaster);
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
        return new Phase(acked, failures, firstError, clock.Elapsed, all, cpu.Stop());
    }
}
