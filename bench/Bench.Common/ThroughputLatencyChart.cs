using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Chat.Benchmarks;

/// <summary>One measurement: a rate and two latency percentiles, labelled (e.g. "64 conn") at its p99 marker.</summary>
public sealed record ChartPoint(double PerSecond, double P50Ms, double P99Ms, string Label);

/// <summary>One kind of load; its points are joined by lines in the given order.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<ChartPoint> Points);

/// <summary>
/// A 1200x800 PNG of throughput (x, log10) against latency in ms (y, log10), drawn by ScottPlot: per series, a solid line with
/// filled markers through the p99 latencies and a thinner dashed line with open markers through the p50 latencies. Points
/// whose rate or latency is NaN, infinite, zero or negative are left out (a log axis has no place for them).
/// </summary>
public static class ThroughputLatencyChart
{
    private const int Width = 1200;
    private const int Height = 800;
    private const float PointLabelSize = 12;

    // Matplotlib's tab10, in the order the charts have always used (the send chart's first two kinds blue and red).
    private static readonly Color[] Palette =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#d62728"), Color.FromHex("#2ca02c"), Color.FromHex("#ff7f0e"), Color.FromHex("#9467bd"),
        Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#17becf"), Color.FromHex("#bcbd22"), Color.FromHex("#7f7f7f"),
    ];

    // A sliver past each end decade: ScottPlot leaves a tick exactly on the edge of a vertical axis unlabelled.
    private const double EdgeDecades = 0.01;

    /// <summary>Writes the chart to <paramref name="path"/> (its folder is created if missing).</summary>
    public static void WritePng(string path, string title, string subtitle, IReadOnlyList<ChartSeries> series)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(subtitle);
        ArgumentNullException.ThrowIfNull(series);
        var plot = Build(title, subtitle, series);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder))
            Directory.CreateDirectory(folder);
        plot.SavePng(path, Width, Height);
    }

    private static bool Valid(double v) => double.IsFinite(v) && v > 0;

    private static Plot Build(string title, string subtitle, IReadOnlyList<ChartSeries> series)
    {
        var plot = ChartFonts.NewPlot();

        plot.Title(title, 22);
        var sub = new ScottPlot.Panels.TitlePanel();
        sub.Label.Text = string.Join("\n", ChartFonts.Wrap(subtitle, 140).Take(3));
        sub.Label.FontSize = 14;
        sub.Label.Bold = false;
        sub.Label.ForeColor = Color.FromHex("#555555");
        plot.Axes.AddPanel(sub);

        var prepared = new List<(string Name, Color Color, List<(double X, double Y, string Label)> P99, List<(double X, double Y)> P50)>();
        for (var i = 0; i < series.Count; i++)
        {
            var points = series[i]?.Points ?? [];
            var p99 = points.Where(p => p is not null && Valid(p.PerSecond) && Valid(p.P99Ms)).Select(p => (p.PerSecond, p.P99Ms, p.Label ?? "")).ToList();
            var p50 = points.Where(p => p is not null && Valid(p.PerSecond) && Valid(p.P50Ms)).Select(p => (p.PerSecond, p.P50Ms)).ToList();
            prepared.Add((series[i]?.Name ?? "", Palette[i % Palette.Length], p99, p50));
        }

        // Whole decades around the data, as on log paper; the axes carry log10 of each value.
        var xs = prepared.SelectMany(p => p.P99.Select(q => q.X).Concat(p.P50.Select(q => q.X))).ToList();
        var ys = prepared.SelectMany(p => p.P99.Select(q => q.Y).Concat(p.P50.Select(q => q.Y))).ToList();
        var noData = xs.Count == 0;
        var (x0, x1) = noData ? (2, 5) : DecadeRange(xs);
        var (y0, y1) = noData ? (-1, 3) : DecadeRange(ys);
        plot.Axes.SetLimits(x0 - EdgeDecades, x1 + EdgeDecades, y0 - EdgeDecades, y1 + EdgeDecades);
        plot.Axes.Bottom.TickGenerator = LogTicks(FormatRate);
        plot.Axes.Left.TickGenerator = LogTicks(FormatMs);
        plot.XLabel("throughput: acknowledged messages (or calls) per second, log scale", 15);
        plot.YLabel("latency, ms, log scale", 15);
        plot.Grid.MajorLineColor = Colors.Black.WithOpacity(0.18);
        plot.Grid.MinorLineColor = Colors.Black.WithOpacity(0.07);
        plot.Grid.MinorLineWidth = 1;

        if (noData)
        {
            var empty = plot.Add.Text("no data", (x0 + x1) / 2.0, (y0 + y1) / 2.0);
            empty.LabelFontSize = 28;
            empty.LabelFontColor = Color.FromHex("#555555");
            empty.LabelAlignment = Alignment.MiddleCenter;
        }

        // p50 under p99, so that the p99 markers (which carry the labels) stay on top.
        foreach (var s in prepared.Where(s => s.P50.Count > 0))
        {
            var line = plot.Add.Scatter(s.P50.Select(q => Math.Log10(q.X)).ToArray(), s.P50.Select(q => Math.Log10(q.Y)).ToArray(), s.Color);
            line.LinePattern = LinePattern.Dashed;
            line.LineWidth = 1.8f;
            line.MarkerShape = MarkerShape.OpenCircle;
            line.MarkerSize = 8;
        }
        var labels = new LabelPlacer(x0, x1, y0, y1);
        foreach (var s in prepared)
            foreach (var (x, y, _) in s.P99)
                labels.Occupy(Math.Log10(x), Math.Log10(y));
        foreach (var s in prepared)
        {
            if (s.P99.Count == 0)
            {
                // Still named in the legend, so that a kind that failed to measure is visibly missing rather than silently absent.
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = s.Name + " (no data)", LineColor = s.Color, LineWidth = 2.5f });
                continue;
            }
            var line = plot.Add.Scatter(s.P99.Select(q => Math.Log10(q.X)).ToArray(), s.P99.Select(q => Math.Log10(q.Y)).ToArray(), s.Color);
            line.LineWidth = 2.5f;
            line.MarkerShape = MarkerShape.FilledCircle;
            line.MarkerSize = 9;
            line.LegendText = s.Name;
            foreach (var (x, y, label) in s.P99)
                if (label.Length > 0 && labels.Place(Math.Log10(x), Math.Log10(y), label) is { } placement)
                {
                    var text = plot.Add.Text(label, Math.Log10(x), Math.Log10(y));
                    text.LabelFontSize = PointLabelSize;
                    text.LabelFontColor = s.Color;
                    text.LabelAlignment = placement;
                    text.LabelOffsetX = placement is Alignment.LowerLeft or Alignment.UpperLeft ? 7 : -7;
                    text.LabelOffsetY = placement is Alignment.LowerLeft or Alignment.LowerRight ? -7 : 7;
                }
        }
        if (plot.Legend.ManualItems.Count > 0)
            foreach (var s in prepared.Where(s => s.P99.Count > 0))
                plot.Legend.ManualItems.Insert(0, new LegendItem { LabelText = s.Name, LineColor = s.Color, LineWidth = 2.5f });
        plot.Legend.FontSize = 14;
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    private static (int Lo, int Hi) DecadeRange(List<double> values)
    {
        var lo = (int)Math.Floor(Math.Log10(values.Min()));
        var hi = (int)Math.Ceiling(Math.Log10(values.Max()));
        return hi > lo ? (lo, hi) : (lo, lo + 1);
    }

    private static NumericAutomatic LogTicks(Func<double, string> format) => new()
    {
        IntegerTicksOnly = true,
        MinorTickGenerator = new LogMinorTickGenerator(),
        LabelFormatter = exponent => format(Math.Pow(10, exponent)),
    };

    internal static string FormatRate(double v) =>
        v >= 1e6 ? Trim(v / 1e6) + "M" : v >= 1e3 ? Trim(v / 1e3) + "k" : Trim(v);

    internal static string FormatMs(double v) => v >= 1e4 ? Trim(v / 1e3) + "k" : Trim(v);

    private static string Trim(double v) => Math.Round(v, 6).ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>
    /// Greedy placement of the point labels in the plot's log space: the first of four corners around the marker whose box
    /// overlaps no label placed before; a label with no free corner is left out rather than drawn over another.
    /// </summary>
    private sealed class LabelPlacer(int x0, int x1, int y0, int y1)
    {
        // The plot area is about 865 x 675 px at 1200 x 800; a 12 px label is about 7 px per character wide.
        private const double PlotWidthPx = 865, PlotHeightPx = 675, CharPx = 7, LinePx = 16, GapPx = 7;
        private const double MarkerPx = 5;
        private readonly List<(double L, double T, double R, double B)> _taken = [];

        private (double X, double Y) Pixels(double x, double y) => ((x - x0) / (x1 - x0) * PlotWidthPx, (y1 - y) / (y1 - y0) * PlotHeightPx);

        /// <summary>A marker: no label may cover it.</summary>
        public void Occupy(double x, double y)
        {
            var (px, py) = Pixels(x, y);
            _taken.Add((px - MarkerPx, py - MarkerPx, px + MarkerPx, py + MarkerPx));
        }

        public Alignment? Place(double x, double y, string label)
        {
            var (px, py) = Pixels(x, y);
            var w = label.Length * CharPx;
            foreach (var (alignment, left, top) in new[]
                     {
                         (Alignment.LowerLeft, px + GapPx, py - GapPx - LinePx),
                         (Alignment.UpperLeft, px + GapPx, py + GapPx),
                         (Alignment.LowerRight, px - GapPx - w, py - GapPx - LinePx),
                         (Alignment.UpperRight, px - GapPx - w, py + GapPx),
                     })
            {
                var box = (left, top, left + w, top + LinePx);
                if (_taken.Any(t => box.left < t.R && t.L < box.Item3 && box.top < t.B && t.T < box.Item4))
                    continue;
                _taken.Add(box);
                return alignment;
            }
            return null;
        }
    }
}
