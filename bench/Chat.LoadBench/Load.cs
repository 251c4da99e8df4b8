using System.Diagnostics;

namespace Chat.LoadBench;

/// <summary>One closed-loop measurement: how many calls were acknowledged, how long it took, and every call's latency.</summary>
public sealed record Run(long Acked, long Failures, string? FirstError, double Seconds, long[] SortedLatencyTicks);

/// <summary>A measurement's summary: throughput and nearest-rank percentiles over every single call.</summary>
public sealed record Measured(long Calls, long Failures, double Seconds, double PerSecond, double P50Ms, double P90Ms, double P99Ms, double MaxMs)
{
    /// <summary>For the stack's sends: the message log's group commits during the measurement.</summary>
    public GroupCommits? Groups { get; init; }

    /// <summary>CPU of each process over the measurement window.</summary>
    public CpuUse? Cpu { get; init; }

    /// <summary>The client was a child process (pgbench), not this one.</summary>
    public bool ClientIsChild { get; init; }

    /// <summary>CPU µs per acknowledged message of the client: pgbench's, or this process's (with the stack in it unless it runs apart).</summary>
    public double ClientUsPerMessage => Cpu is null ? double.NaN : Cpu.PerMessageUs(ClientIsChild ? Cpu.ChildrenCores : Cpu.ProcessCores, Calls);

    /// <summary>The stack process's CPU µs per message; NaN when the stack runs inside this process.</summary>
    public double StackUsPerMessage => Cpu is null ? double.NaN : Cpu.PerMessageUs(Cpu.StackCores, Calls);

    public double PostgresUsPerMessage => Cpu is null ? double.NaN : Cpu.PerMessageUs(Cpu.PostgresCores, Calls);

    public static Measured From(Run run) => new(run.Acked, run.Failures, run.Seconds, run.Acked / run.Seconds,
        Percentile(run.SortedLatencyTicks, 0.50), Percentile(run.SortedLatencyTicks, 0.90), Percentile(run.SortedLatencyTicks, 0.99),
        run.SortedLatencyTicks.Length == 0 ? double.NaN : Ms(run.SortedLatencyTicks[^1]));

    private static double Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : Ms(sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1)]);

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}

public static class Load
{
    /// <summary>
    /// N workers, each calling <paramref name="call"/> (worker, 1-based sequence number; null = acknowledged, else why not)
    /// back to back until the time is up; a worker stops at its first failure. The window runs from the start to the
    /// last worker's last acknowledgement (calls in flight at the deadline are waited for and counted).
    /// </summary>
    public static async Task<Run> Drive(int workers, TimeSpan duration, Func<int, long, Task<string?>> call, CancellationToken cancellationToken)
    {
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
            tasks[worker] = Task.Run(async () =>
            {
                for (long seq = 1; Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested; seq++)
                {
                    var before = Stopwatch.GetTimestamp();
                    string? error;
                    try { error = await call(worker, seq); }
                    catch (Exception e) when (e is not OperationCanceledException) { error = e.Message; }
                    var after = Stopwatch.GetTimestamp();
                    if (error is null)
                    {
                        list.Add(after - before);
                        continue;
                    }
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstError, $"worker {worker}, call {seq}: {error}", null);
                    return;
                }
            }, CancellationToken.None);
        }
        await Task.WhenAll(tasks);
        cancellationToken.ThrowIfCancellationRequested();
        var end = Stopwatch.GetTimestamp();
        var all = latencies.SelectMany(l => l).ToArray();
        Array.Sort(all);
        return new Run(all.Length, failures, firstError, (end - start) / (double)Stopwatch.Frequency, all);
    }
}

/// <summary>Nearest-rank percentiles of sorted samples, in milliseconds.</summary>
public static class Percentiles
{
    /// <summary>Samples in DateTime ticks (100 ns); q = 1 is the maximum; NaN when there are none.</summary>
    public static double Ms(long[] sorted, double q) => sorted.Length == 0 ? double.NaN : At(sorted, q) / (double)TimeSpan.TicksPerMillisecond;

    /// <summary>Samples in Stopwatch ticks.</summary>
    public static double StopwatchMs(long[] sorted, double q) => sorted.Length == 0 ? double.NaN : At(sorted, q) * 1000.0 / Stopwatch.Frequency;

    private static long At(long[] sorted, double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
}
