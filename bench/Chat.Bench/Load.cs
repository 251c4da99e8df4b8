namespace Chat.Bench;

/// <summary>One timed phase: the closed loop's run (per-sender acknowledgements, failures, window, latencies) and its CPU.</summary>
public sealed record Phase(Run Run, CpuUse Cpu)
{
    public long[] Acked => Run.AckedPerWorker;
    public long Total => Run.Acked;
    public long Failures => Run.Failures;
    public string? FirstError => Run.FirstError;
    public TimeSpan Elapsed => TimeSpan.FromSeconds(Run.Seconds);
    public double PerSecond => Run.PerSecond;

    /// <summary>CPU of bench + silo + PostgreSQL per acknowledged message: far less moved by other tenants than msg/s.</summary>
    public double CpuMicrosecondsPerMessage => Cpu.PerMessageUs(Cpu.ProcessCores + Cpu.PostgresCores, Total);

    public double PercentileMs(double q) => Run.PercentileMs(q);

    /// <summary>Slices of one side taken at different times, as one measurement: totals, all calls' latencies, time-weighted CPU.</summary>
    public static Phase Combine(IReadOnlyList<Phase> slices) =>
        new(Run.Combine([.. slices.Select(p => p.Run)]), CpuUse.Combine([.. slices.Select(p => p.Cpu)]));
}

public static class Load
{
    /// <summary>Our PostgreSQL server's postmaster, whose CPU (with its backends') each phase reports.</summary>
    public static int? Postmaster { get; set; }

    /// <summary>
    /// <paramref name="senders"/> workers in the shared closed loop until <paramref name="duration"/> is over; a sender carries
    /// on after a failure. <paramref name="send"/> returns null when the message was acknowledged as committed, else why not.
    /// </summary>
    public static async Task<Phase> Drive(int senders, TimeSpan duration, Func<int, CancellationToken, Task<string?>> send, CancellationToken cancel)
    {
        var cpu = new CpuSampler(Postmaster);
        var run = await ClosedLoop.Drive(senders, duration, (sender, _) => send(sender, cancel), stopWorkerAtFailure: false, cancel);
        return new Phase(run, cpu.Stop());
    }
}
