using System.Diagnostics;

namespace Chat.Benchmarks;

/// <summary>
/// CPU over a measured window, from /proc: busy cores of the whole machine, of this process (the benchmarks host clients,
/// gateway, silo and baseline server in it: everything but PostgreSQL), and of our PostgreSQL; the rest is other tenants. Linux only.
/// </summary>
public sealed record CpuUse(double Seconds, double MachineCores, double ProcessCores, double PostgresCores, long AllocatedBytes, double GcPauseSeconds, int Gen2Collections)
{
    public double OtherCores => MachineCores - ProcessCores - PostgresCores;

    public override string ToString() =>
        $"cores busy: process {ProcessCores:0.00}, postgres {PostgresCores:0.00}, others {OtherCores:0.00}; " +
        $"GC: {AllocatedBytes / 1048576.0:0} MB allocated, {GcPauseSeconds * 1000:0} ms paused, {Gen2Collections} gen2";
}

public sealed class CpuSampler
{
    private const double TicksPerSecond = 100; // USER_HZ
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly long[]? _machine = ReadMachine();
    private readonly long _postgres;
    private readonly TimeSpan _process = Environment.CpuUsage.TotalTime;
    private readonly long _allocated = GC.GetTotalAllocatedBytes();
    private readonly TimeSpan _paused = GC.GetTotalPauseDuration();
    private readonly int _gen2 = GC.CollectionCount(2);
    private readonly int? _postmaster;

    public CpuSampler(int? postmaster) => (_postmaster, _postgres) = (postmaster, ReadPostgres(postmaster));

    public CpuUse Stop()
    {
        var seconds = Stopwatch.GetElapsedTime(_start).TotalSeconds;
        var process = (Environment.CpuUsage.TotalTime - _process).TotalSeconds / seconds;
        var postgres = _postmaster is null ? double.NaN : (ReadPostgres(_postmaster) - _postgres) / TicksPerSecond / seconds;
        var (allocated, paused, gen2) = (GC.GetTotalAllocatedBytes() - _allocated, (GC.GetTotalPauseDuration() - _paused).TotalSeconds, GC.CollectionCount(2) - _gen2);
        var machine = double.NaN;
        if (_machine is not null && ReadMachine() is { } now)
        {
            var delta = now.Zip(_machine, (a, b) => a - b).ToArray();
            double total = delta.Sum();
            // user nice system idle iowait irq softirq steal: idle and iowait are not running.
            if (total > 0) machine = Environment.ProcessorCount * (total - delta[3] - delta[4]) / total;
        }
        return new CpuUse(seconds, machine, process, postgres, allocated, paused, gen2);
    }

    private static long[]? ReadMachine()
    {
        try
        {
            return File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(long.Parse).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>utime + stime of the postmaster and its live children, plus its exited children's.</summary>
    private static long ReadPostgres(int? postmaster)
    {
        if (postmaster is not { } parent) return 0;
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (pid == parent) ticks += long.Parse(f[11]) + long.Parse(f[12]) + long.Parse(f[13]) + long.Parse(f[14]);
            else if (int.Parse(f[1]) == parent) ticks += long.Parse(f[11]) + long.Parse(f[12]);
        }
        return ticks;
    }
}
