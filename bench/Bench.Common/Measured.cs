namespace Chat.Benchmarks;

/// <summary>A measurement's summary: throughput and nearest-rank percentiles over every single call, and what it cost in CPU.</summary>
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

    public static Measured From(Run run) => new(run.Acked, run.Failures, run.Seconds, run.PerSecond,
        run.PercentileMs(0.50), run.PercentileMs(0.90), run.PercentileMs(0.99), run.PercentileMs(1));
}
