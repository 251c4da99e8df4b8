using System.Diagnostics;

namespace Chat.Benchmarks;

/// <summary>One closed-loop measurement: each worker's acknowledged calls, failures, the window, and every call's latency.</summary>
public sealed record Run(long[] AckedPerWorker, long Failures, string? FirstError, double Seconds, long[] SortedLatencyTicks)
{
    public long Acked => AckedPerWorker.Sum();

    public double PerSecond => Acked / Seconds;

    /// <summary>A run measured elsewhere (pgbench's log, an open loop): all calls as one worker's.</summary>
    public Run(long acked, long failures, string? firstError, double seconds, long[] sortedLatencyTicks)
        : this([acked], failures, firstError, seconds, sortedLatencyTicks) { }

    /// <summary>Nearest rank over every single call, in ms (q = 1 is the slowest); NaN when none was acknowledged.</summary>
    public double PercentileMs(double q) => Percentiles.StopwatchMs(SortedLatencyTicks, q);

    /// <summary>Slices of one side taken at different times, as one run: summed counts and windows, all calls' latencies.</summary>
    public static Run Combine(IReadOnlyList<Run> slices)
    {
        var latencies = slices.SelectMany(r => r.SortedLatencyTicks).ToArray();
        Array.Sort(latencies);
        return new Run(
            Enumerable.Range(0, slices[0].AckedPerWorker.Length).Select(i => slices.Sum(r => r.AckedPerWorker[i])).ToArray(),
            slices.Sum(r => r.Failures),
            slices.Select(r => r.FirstError).FirstOrDefault(e => e is not null),
            slices.Sum(r => r.Seconds),
            latencies);
    }
}

/// <summary>The closed loop every benchmark here drives: N workers, each with exactly one call outstanding.</summary>
public static class ClosedLoop
{
    /// <summary>
    /// N workers, each calling <paramref name="call"/> (worker, 1-based sequence number; null = acknowledged, else why not)
    /// back to back until the time is up. With <paramref name="stopWorkerAtFailure"/> a worker stops at its first failure,
    /// else it carries on. The window runs from the start to the last worker's last acknowledgement (calls in flight at the
    /// deadline are waited for and counted), so every counted call is inside it.
    /// </summary>
    public static async Task<Run> Drive(int workers, TimeSpan duration, Func<int, long, Task<string?>> call, bool stopWorkerAtFailure,
        CancellationToken cancellationToken)
    {
        var acked = new long[workers];
        var latencies = new List<long>[workers];
        long failures = 0;
        string? firstError = null;
        var start = Stopwatch.GetTimestamp();
        var deadline = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var tasks = new Task[workers];
        for (var w = 0; w < workers; w++)
        {
            var worker = w;
            var list = latencies[worker] = new List<long>(4096);
            // Task.Run so that the workers start together rather than one after another's first await.
            tasks[worker] = Task.Run(async () =>
            {
                for (long seq = 1; Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested; seq++)
                {
                    var before = Stopwatch.GetTimestamp();
                    string? error;
                    try { error = await call(worker, seq); }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { return; }
                    catch (Exception e) { error = $"{e.GetType().Name}: {e.Message}"; }
                    var after = Stopwatch.GetTimestamp();
                    if (error is null)
                    {
                        list.Add(after - before);
                        acked[worker]++;
                        continue;
                    }
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstError, $"worker {worker}, call {seq}: {error}", null);
                    if (stopWorkerAtFailure)
                        return;
                }
            }, CancellationToken.None);
        }
        await Task.WhenAll(tasks);
        cancellationToken.ThrowIfCancellationRequested();
        var end = Stopwatch.GetTimestamp();
        var all = latencies.SelectMany(l => l).ToArray();
        Array.Sort(all);
        return new Run(acked, failures, firstError, (end - start) / (double)Stopwatch.Frequency, all);
    }
}
