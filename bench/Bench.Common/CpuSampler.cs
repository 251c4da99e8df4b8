using System.Diagnostics;
using System.Globalization;

namespace Chat.Benchmarks;

/// <summary>
/// CPU over a measured window, from /proc, in cores busy on average: the whole machine; this process (the benchmark's clients,
/// and the stack too when it is hosted in-process); its children that exited inside the window (a <c>pgbench</c> run); the stack
/// when it runs as a process of its own (NaN otherwise); our PostgreSQL (postmaster and every backend). What is left of the machine
/// is other tenants. Linux only: NaN elsewhere.
/// </summary>
public sealed record CpuUse(
    double Seconds,
    double MachineCores,
    double IowaitPercent,
    double ProcessCores,
    double ChildrenCores,
    double StackCores,
    double PostgresCores,
    long AllocatedBytes,
    double GcPauseSeconds,
    int Gen2Collections)
{
    public double OtherCores => MachineCores - ProcessCores - ChildrenCores - (double.IsNaN(StackCores) ? 0 : StackCores) - PostgresCores;

    /// <summary>CPU microseconds per message of one process's cores over this window; NaN when nothing was acknowledged.</summary>
    public double PerMessageUs(double cores, long messages) => messages <= 0 ? double.NaN : cores * Seconds * 1e6 / messages;

    public override string ToString() =>
        $"cores busy: process {ProcessCores:0.00}" + (ChildrenCores > 0 ? $", pgbench {ChildrenCores:0.00}" : "") +
        (double.IsNaN(StackCores) ? "" : $", stack {StackCores:0.00}") + $", postgres {PostgresCores:0.00}, others {OtherCores:0.00} (iowait {IowaitPercent:0}%); " +
        $"GC: {AllocatedBytes / 1048576.0:0} MB allocated, {GcPauseSeconds * 1000:0} ms paused, {Gen2Collections} gen2";

    /// <summary>Windows of one side taken at different times, as one: the time-weighted mean of each rate, the sum of each count.</summary>
    public static CpuUse Combine(IReadOnlyList<CpuUse> windows)
    {
        var seconds = windows.Sum(w => w.Seconds);
        double Weighted(Func<CpuUse, double> metric) => windows.Sum(w => metric(w) * w.Seconds) / seconds;
        return new CpuUse(seconds, Weighted(w => w.MachineCores), Weighted(w => w.IowaitPercent), Weighted(w => w.ProcessCores), Weighted(w => w.ChildrenCores),
            Weighted(w => w.StackCores), Weighted(w => w.PostgresCores), windows.Sum(w => w.AllocatedBytes), windows.Sum(w => w.GcPauseSeconds),
            windows.Sum(w => w.Gen2Collections));
    }
}

/// <summary>Reads the counters at construction; <see cref="Stop"/> reads them again and turns the difference into a <see cref="CpuUse"/>.</summary>
public sealed class CpuSampler
{
    private const double TicksPerSecond = 100; // USER_HZ, fixed at 100 on Linux
    private readonly int? _postmaster;
    private readonly int? _stack;
    private readonly long _start;
    private readonly long[]? _machine;
    private readonly long _postgres;
    private readonly long _stackTicks;
    private readonly long _children;
    private readonly TimeSpan _process;
    private readonly long _allocated = GC.GetTotalAllocatedBytes();
    private readonly TimeSpan _paused = GC.GetTotalPauseDuration();
    private readonly int _gen2 = GC.CollectionCount(2);

    /// <param name="postmaster">Our PostgreSQL's postmaster pid: its children are the backends, WAL writer, checkpointer...</param>
    /// <param name="stack">The stack's process when it runs apart from this one.</param>
    public CpuSampler(int? postmaster, int? stack = null)
    {
        (_postmaster, _stack) = (postmaster, stack);
        _machine = ReadMachine();
        _postgres = ReadTree(postmaster);
        _stackTicks = stack is { } s ? ReadOwn(s) ?? 0 : 0;
        _children = ReadReapedChildren();
        _process = Environment.CpuUsage.TotalTime;
        _start = Stopwatch.GetTimestamp();
    }

    public CpuUse Stop()
    {
        var seconds = Stopwatch.GetElapsedTime(_start).TotalSeconds;
        var process = (Environment.CpuUsage.TotalTime - _process).TotalSeconds / seconds;
        var children = (ReadReapedChildren() - _children) / TicksPerSecond / seconds;
        var stack = _stack is { } s && ReadOwn(s) is { } now ? (now - _stackTicks) / TicksPerSecond / seconds : double.NaN;
        var postgres = _postmaster is null ? double.NaN : (ReadTree(_postmaster) - _postgres) / TicksPerSecond / seconds;
        var (allocated, paused, gen2) = (GC.GetTotalAllocatedBytes() - _allocated, (GC.GetTotalPauseDuration() - _paused).TotalSeconds, GC.CollectionCount(2) - _gen2);
        double machine = double.NaN, iowait = double.NaN;
        if (_machine is not null && ReadMachine() is { } end)
        {
            var delta = end.Zip(_machine, (a, b) => a - b).ToArray();
            double total = delta.Sum();
            // user nice system idle iowait irq softirq steal: idle and iowait are not running.
            if (total > 0) (machine, iowait) = (Environment.ProcessorCount * (total - delta[3] - delta[4]) / total, 100 * delta[4] / total);
        }
        return new CpuUse(seconds, machine, iowait, process, children, stack, postgres, allocated, paused, gen2);
    }

    private static long[]? ReadMachine()
    {
        try
        {
            return File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(long.Parse).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    // The kernel writes /proc numbers as plain ASCII digits, whatever the locale this program runs in.
    private static long Ticks(string field) => long.Parse(field, CultureInfo.InvariantCulture);

    /// <summary>The fields after the command name in parentheses: state [0], ppid [1], ... utime [11], stime [12], cutime [13], cstime [14].</summary>
    private static string[]? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; } // exited meanwhile, or not Linux
    }

    /// <summary>utime + stime of one process, with what its exited children used.</summary>
    private static long? ReadOwn(int pid) =>
        Stat(pid) is { } f ? Ticks(f[11]) + Ticks(f[12]) + Ticks(f[13]) + Ticks(f[14]) : null;

    /// <summary>
    /// cutime + cstime of this process: its children once waited for (.NET reaps them as they exit). Only a child that exited inside
    /// the window counts, which is how a <c>pgbench</c> run is measured.
    /// </summary>
    private static long ReadReapedChildren() => Stat(Environment.ProcessId) is { } f ? Ticks(f[13]) + Ticks(f[14]) : 0;

    /// <summary>utime + stime of the postmaster and its live children, plus its exited children's (cutime + cstime).</summary>
    private static long ReadTree(int? root)
    {
        if (root is not { } parent) return 0;
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || Stat(pid) is not { } f) continue;
            if (pid == parent) ticks += Ticks(f[11]) + Ticks(f[12]) + Ticks(f[13]) + Ticks(f[14]);
            else if (int.Parse(f[1], CultureInfo.InvariantCulture) == parent) ticks += Ticks(f[11]) + Ticks(f[12]);
        }
        return ticks;
    }
}
