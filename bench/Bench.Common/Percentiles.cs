using System.Diagnostics;

namespace Chat.Benchmarks;

/// <summary>Nearest-rank percentiles of sorted samples, in milliseconds: never an average, never an average of percentiles.</summary>
public static class Percentiles
{
    /// <summary>Samples in DateTime ticks (100 ns); q = 1 is the maximum; NaN when there are none.</summary>
    public static double Ms(long[] sorted, double q) => sorted.Length == 0 ? double.NaN : At(sorted, q) / (double)TimeSpan.TicksPerMillisecond;

    /// <summary>Samples in Stopwatch ticks.</summary>
    public static double StopwatchMs(long[] sorted, double q) => sorted.Length == 0 ? double.NaN : At(sorted, q) * 1000.0 / Stopwatch.Frequency;

    /// <summary>Samples already in ms (or any unit): the value itself.</summary>
    public static double Of(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Index(sorted.Length, q)];

    private static long At(long[] sorted, double q) => sorted[Index(sorted.Length, q)];

    private static int Index(int count, double q) => Math.Clamp((int)Math.Ceiling(q * count) - 1, 0, count - 1);
}
