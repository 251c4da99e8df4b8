using System.Globalization;
using SkiaSharp;

namespace Chat.LoadBench;

/// <summary>One measurement: a rate and two latency percentiles, labelled (e.g. "64 conn") at its p99 marker.</summary>
public sealed record ChartPoint(double PerSecond, double P50Ms, double P99Ms, string Label);

/// <summary>One kind of load; its points are joined by lines in the given order.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<ChartPoint> Points);

/// <summary>
/// A 1200x800 PNG of throughput (x, log10) against latency in ms (y, log10): per series, a solid line with filled
/// markers through the p99 latencies and a thinner dashed line with open markers through the p50 latencies.
/// Points whose rate or latency is NaN, infinite, zero or negative are left out. Text is drawn with
/// <see cref="StrokeFont"/>, a small line font built into this file, because SkiaSharp's Linux NoDependencies
/// native library has no font manager (SKTypeface.Default has no glyphs) and a fresh machine may have no fonts.
/// </summary>
public static class ThroughputLatencyChart
{
    const int Width = 1200;
    const int Height = 800;
    const float MarginX = 24;
    const float PlotLeft = 96;
    const float PlotBottom = Height - 78;

    static readonly SKColor[] Palette =
    [
        new(0x1f, 0x77, 0xb4), // blue
        new(0xd6, 0x27, 0x28), // red
        new(0x2c, 0xa0, 0x2c), // green
        new(0xff, 0x7f, 0x0e), // orange
        new(0x94, 0x67, 0xbd), // purple
        new(0x8c, 0x56, 0x4b), // brown
        new(0xe3, 0x77, 0xc2), // pink
        new(0x17, 0xbe, 0xcf), // cyan
        new(0xbc, 0xbd, 0x22), // olive
        new(0x7f, 0x7f, 0x7f), // grey
    ];

    static readonly SKColor Ink = new(0x22, 0x22, 0x22);
    static readonly SKColor Muted = new(0x55, 0x55, 0x55);
    static readonly SKColor MajorGrid = new(0xcc, 0xcc, 0xcc);
    static readonly SKColor MinorGrid = new(0xec, 0xec, 0xec);

    const float TitleSize = 24;
    const float SubtitleSize = 15;
    const float TickSize = 14;
    const float AxisTitleSize = 15;
    const float LegendSize = 15;
    const float PointLabelSize = 12;

    /// <summary>Writes the chart to <paramref name="path"/> (its folder is created if missing).</summary>
    public static void WritePng(string path, string title, string subtitle, IReadOnlyList<ChartSeries> series)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(subtitle);
        ArgumentNullException.ThrowIfNull(series);
        var png = RenderPng(title, subtitle, series);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder))
            Directory.CreateDirectory(folder);
        File.WriteAllBytes(path, png);
    }

    internal static byte[] RenderPng(string title, string subtitle, IReadOnlyList<ChartSeries> series)
    {
        using var surface = SKSurface.Create(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException("SkiaSharp could not create a raster surface");
        Draw(surface.Canvas, title, subtitle, series);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("SkiaSharp could not encode the chart as PNG");
        return data.ToArray();
    }

    sealed record Prepared(string Name, SKColor Color, List<(double X, double Y, string Label)> P99, List<(double X, double Y)> P50);

    static bool Valid(double v) => double.IsFinite(v) && v > 0;

    static void Draw(SKCanvas canvas, string title, string subtitle, IReadOnlyList<ChartSeries> series)
    {
        canvas.Clear(SKColors.White);

        var prepared = new List<Prepared>();
        for (var i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var p99 = new List<(double, double, string)>();
            var p50 = new List<(double, double)>();
            foreach (var p in s?.Points ?? [])
            {
                if (p is null || !Valid(p.PerSecond))
                    continue;
                if (Valid(p.P99Ms))
                    p99.Add((p.PerSecond, p.P99Ms, p.Label ?? ""));
                if (Valid(p.P50Ms))
                    p50.Add((p.PerSecond, p.P50Ms));
            }
            prepared.Add(new Prepared(s?.Name ?? "", Palette[i % Palette.Length], p99, p50));
        }

        // Title, then the subtitle wrapped to at most three lines.
        var y = 40f;
        StrokeFont.Draw(canvas, Fit(title, Width - 2 * MarginX, TitleSize, bold: true), MarginX, y, TitleSize, Ink, bold: true);
        y += 10;
        foreach (var line in Wrap(subtitle, Width - 2 * MarginX, SubtitleSize).Take(3))
        {
            y += SubtitleSize + 6;
            StrokeFont.Draw(canvas, line, MarginX, y, SubtitleSize, Muted);
        }
        var plotTop = y + 28;

        // Legend on the right: its width follows the longest entry.
        var legendEntries = prepared.Select(p => p.P99.Count + p.P50.Count == 0 ? p.Name + " (no data)" : p.Name).ToList();
        string[] keyTexts = ["p99 latency", "p50 latency", "label: connections"];
        var legendTextWidth = legendEntries.Concat(keyTexts).Select(t => StrokeFont.Measure(t, LegendSize)).DefaultIfEmpty(0).Max();
        var legendWidth = Math.Clamp(legendTextWidth + 72, 200, 380);
        var plotRight = Width - MarginX - legendWidth - 18;
        var plot = new SKRect(PlotLeft, plotTop, plotRight, PlotBottom);

        // Axis ranges in whole decades around the data, with a little room at the edges.
        var xs = prepared.SelectMany(p => p.P99.Select(q => q.X).Concat(p.P50.Select(q => q.X))).ToList();
        var ys = prepared.SelectMany(p => p.P99.Select(q => q.Y).Concat(p.P50.Select(q => q.Y))).ToList();
        var noData = xs.Count == 0;
        var (x0, x1) = noData ? (2, 5) : DecadeRange(xs);
        var (y0, y1) = noData ? (-1, 3) : DecadeRange(ys);
        float Px(double v) => plot.Left + (float)((Math.Log10(v) - x0) / (x1 - x0)) * plot.Width;
        float Py(double v) => plot.Bottom - (float)((Math.Log10(v) - y0) / (y1 - y0)) * plot.Height;

        DrawGridAndAxes(canvas, plot, x0, x1, y0, y1, Px, Py);

        if (noData)
        {
            var msg = "no data";
            StrokeFont.Draw(canvas, msg, plot.MidX, plot.MidY + 10, 28, Muted, StrokeFont.Align.Center);
        }

        // Lines and markers, clipped to the plot; p50 under p99.
        canvas.Save();
        canvas.ClipRect(SKRect.Inflate(plot, 8, 8));
        using (var dashed = Stroke(SKColors.Black, 1.8f))
        using (var dashEffect = SKPathEffect.CreateDash([8, 6], 0))
        {
            dashed.PathEffect = dashEffect;
            foreach (var s in prepared)
            {
                dashed.Color = s.Color;
                DrawPolyline(canvas, s.P50.Select(q => new SKPoint(Px(q.X), Py(q.Y))), dashed);
            }
        }
        using (var solid = Stroke(SKColors.Black, 2.8f))
        {
            foreach (var s in prepared)
            {
                solid.Color = s.Color;
                DrawPolyline(canvas, s.P99.Select(q => new SKPoint(Px(q.X), Py(q.Y))), solid);
            }
        }
        // What a label should not cover: markers and earlier labels (weight 1), and the lines (sampled, weight 0.5).
        var occupied = new List<(SKRect Rect, float Weight)>();
        foreach (var s in prepared)
        {
            foreach (var line in new[] { s.P50.Select(q => new SKPoint(Px(q.X), Py(q.Y))).ToList(), s.P99.Select(q => new SKPoint(Px(q.X), Py(q.Y))).ToList() })
            {
                for (var i = 1; i < line.Count; i++)
                {
                    var (a, b) = (line[i - 1], line[i]);
                    var steps = Math.Max(1, (int)(SKPoint.Distance(a, b) / 3));
                    for (var k = 0; k <= steps; k++)
                        occupied.Add((Around(a + new SKPoint((b.X - a.X) * k / steps, (b.Y - a.Y) * k / steps), 1.5f), 0.5f));
                }
            }
        }
        foreach (var s in prepared)
        {
            foreach (var q in s.P50)
            {
                var c = new SKPoint(Px(q.X), Py(q.Y));
                DrawOpenMarker(canvas, c, s.Color);
                occupied.Add((Around(c, 5), 1));
            }
            foreach (var q in s.P99)
            {
                var c = new SKPoint(Px(q.X), Py(q.Y));
                DrawFilledMarker(canvas, c, s.Color);
                occupied.Add((Around(c, 6.5f), 1));
            }
        }
        canvas.Restore();

        // Labels at the p99 markers, each placed where it overlaps no marker and no earlier label if it can.
        foreach (var s in prepared)
        {
            var labelColor = Darken(s.Color);
            foreach (var q in s.P99)
            {
                if (q.Label.Length == 0)
                    continue;
                var c = new SKPoint(Px(q.X), Py(q.Y));
                var rect = PlaceLabel(q.Label, c, plot, occupied);
                occupied.Add((rect, 1));
                using var halo = new SKPaint { Color = SKColors.White.WithAlpha(200), IsAntialias = true };
                canvas.DrawRoundRect(SKRect.Inflate(rect, 1, 1), 2, 2, halo);
                StrokeFont.Draw(canvas, q.Label, rect.Left, rect.Bottom - 2, PointLabelSize, labelColor);
            }
        }

        DrawLegend(canvas, prepared, legendEntries, new SKPoint(plotRight + 18, plotTop), legendWidth);
    }

    static (int Lo, int Hi) DecadeRange(List<double> values)
    {
        var lo = Math.Log10(values.Min());
        var hi = Math.Log10(values.Max());
        return ((int)Math.Floor(lo - 0.08), (int)Math.Ceiling(hi + 0.08));
    }

    /// <summary>Grid values of a log axis from 10^from to 10^to: each decade and its 2..9 multiples (m is the multiple).</summary>
    static IEnumerable<(double Value, int M)> LogTicks(int from, int to)
    {
        for (var d = from; d <= to; d++)
            for (var m = 1; m <= (d == to ? 1 : 9); m++)
                yield return (m * Math.Pow(10, d), m);
    }

    static void DrawGridAndAxes(SKCanvas canvas, SKRect plot, int x0, int x1, int y0, int y1, Func<double, float> px, Func<double, float> py)
    {
        using var minor = Stroke(MinorGrid, 1);
        using var major = Stroke(MajorGrid, 1);
        using var frame = Stroke(Muted, 1.2f);
        var labelMinorX = x1 - x0 <= 2;
        var labelMinorY = y1 - y0 <= 2;

        foreach (var (v, m) in LogTicks(x0, x1))
        {
            var x = px(v);
            canvas.DrawLine(x, plot.Top, x, plot.Bottom, m == 1 ? major : minor);
            if (m == 1 || (labelMinorX && m is 2 or 5))
            {
                canvas.DrawLine(x, plot.Bottom, x, plot.Bottom + 5, frame);
                StrokeFont.Draw(canvas, FormatRate(v), x, plot.Bottom + 24, m == 1 ? TickSize : TickSize - 2, m == 1 ? Ink : Muted, StrokeFont.Align.Center);
            }
        }
        foreach (var (v, m) in LogTicks(y0, y1))
        {
            var y = py(v);
            canvas.DrawLine(plot.Left, y, plot.Right, y, m == 1 ? major : minor);
            if (m == 1 || (labelMinorY && m is 2 or 5))
            {
                canvas.DrawLine(plot.Left - 5, y, plot.Left, y, frame);
                var size = m == 1 ? TickSize : TickSize - 2;
                StrokeFont.Draw(canvas, FormatMs(v), plot.Left - 9, y + StrokeFont.CapHeight(size) / 2, size, m == 1 ? Ink : Muted, StrokeFont.Align.Right);
            }
        }
        canvas.DrawRect(plot, frame);

        StrokeFont.Draw(canvas, "throughput per second (log scale)", plot.MidX, plot.Bottom + 56, AxisTitleSize, Ink, StrokeFont.Align.Center);
        canvas.Save();
        canvas.Translate(30, plot.MidY);
        canvas.RotateDegrees(-90);
        StrokeFont.Draw(canvas, "latency, ms (log scale)", 0, 0, AxisTitleSize, Ink, StrokeFont.Align.Center);
        canvas.Restore();
    }

    static void DrawLegend(SKCanvas canvas, List<Prepared> prepared, List<string> entries, SKPoint origin, float width)
    {
        const float row = 26;
        var rows = entries.Count + 4;
        var box = new SKRect(origin.X, origin.Y, origin.X + width, origin.Y + 14 + rows * row);
        using (var fill = new SKPaint { Color = new SKColor(0xfa, 0xfa, 0xfa), IsAntialias = true })
            canvas.DrawRoundRect(box, 6, 6, fill);
        using (var border = Stroke(MajorGrid, 1))
            canvas.DrawRoundRect(box, 6, 6, border);

        var y = origin.Y + 12 + row / 2;
        var swatchLeft = origin.X + 12;
        var swatchRight = swatchLeft + 36;
        var textX = swatchRight + 10;
        using var solid = Stroke(SKColors.Black, 2.8f);
        for (var i = 0; i < prepared.Count; i++)
        {
            solid.Color = prepared[i].Color;
            canvas.DrawLine(swatchLeft, y, swatchRight, y, solid);
            DrawFilledMarker(canvas, new SKPoint((swatchLeft + swatchRight) / 2, y), prepared[i].Color);
            StrokeFont.Draw(canvas, Fit(entries[i], origin.X + width - 10 - textX, LegendSize), textX, y + StrokeFont.CapHeight(LegendSize) / 2, LegendSize, Ink);
            y += row;
        }
        if (prepared.Count > 0)
            y += row / 2;

        solid.Color = Muted;
        canvas.DrawLine(swatchLeft, y, swatchRight, y, solid);
        DrawFilledMarker(canvas, new SKPoint((swatchLeft + swatchRight) / 2, y), Muted);
        StrokeFont.Draw(canvas, "p99 latency", textX, y + StrokeFont.CapHeight(LegendSize) / 2, LegendSize, Ink);
        y += row;
        using (var dashed = Stroke(Muted, 1.8f))
        using (var dashEffect = SKPathEffect.CreateDash([8, 6], 0))
        {
            dashed.PathEffect = dashEffect;
            canvas.DrawLine(swatchLeft, y, swatchRight, y, dashed);
        }
        DrawOpenMarker(canvas, new SKPoint((swatchLeft + swatchRight) / 2, y), Muted);
        StrokeFont.Draw(canvas, "p50 latency", textX, y + StrokeFont.CapHeight(LegendSize) / 2, LegendSize, Ink);
        y += row;
        StrokeFont.Draw(canvas, "64 conn", swatchLeft, y + StrokeFont.CapHeight(PointLabelSize) / 2, PointLabelSize, Muted);
        StrokeFont.Draw(canvas, "= connections", textX + 14, y + StrokeFont.CapHeight(LegendSize) / 2, LegendSize, Ink);
    }

    static SKRect PlaceLabel(string label, SKPoint c, SKRect plot, List<(SKRect Rect, float Weight)> occupied)
    {
        var w = StrokeFont.Measure(label, PointLabelSize) + 2;
        var h = StrokeFont.CapHeight(PointLabelSize) + 4;
        const float d = 8;
        SKRect[] candidates =
        [
            SKRect.Create(c.X + d, c.Y - d - h, w, h),         // above right
            SKRect.Create(c.X - d - w, c.Y - d - h, w, h),     // above left
            SKRect.Create(c.X + d, c.Y + d, w, h),             // below right
            SKRect.Create(c.X - d - w, c.Y + d, w, h),         // below left
            SKRect.Create(c.X + d + 2, c.Y - h / 2, w, h),     // right
            SKRect.Create(c.X - d - 2 - w, c.Y - h / 2, w, h), // left
            SKRect.Create(c.X - w / 2, c.Y - d - 2 - h, w, h), // above
            SKRect.Create(c.X - w / 2, c.Y + d + 2, w, h),     // below
            SKRect.Create(c.X + d, c.Y - 2 * d - h, w, h),     // further above right
            SKRect.Create(c.X + d, c.Y + 2 * d, w, h),         // further below right
        ];
        SKRect best = candidates[0];
        var bestCost = double.MaxValue;
        foreach (var r in candidates)
        {
            double cost = 0;
            if (!plot.Contains(r))
                cost += 1e6;
            foreach (var (o, weight) in occupied)
            {
                var overlap = SKRect.Intersect(r, o);
                if (!overlap.IsEmpty)
                    cost += overlap.Width * overlap.Height * weight;
            }
            if (cost < bestCost)
            {
                bestCost = cost;
                best = r;
                if (cost == 0)
                    break;
            }
        }
        return best;
    }

    static SKRect Around(SKPoint c, float r) => new(c.X - r, c.Y - r, c.X + r, c.Y + r);

    static void DrawPolyline(SKCanvas canvas, IEnumerable<SKPoint> points, SKPaint paint)
    {
        var list = points.ToList();
        if (list.Count < 2)
            return;
        using var builder = new SKPathBuilder();
        builder.MoveTo(list[0]);
        foreach (var p in list.Skip(1))
            builder.LineTo(p);
        using var path = builder.Detach();
        canvas.DrawPath(path, paint);
    }

    static void DrawFilledMarker(SKCanvas canvas, SKPoint c, SKColor color)
    {
        using var fill = new SKPaint { Color = color, IsAntialias = true, Style = SKPaintStyle.Fill };
        canvas.DrawCircle(c, 5.5f, fill);
        using var ring = Stroke(SKColors.White, 1.2f);
        canvas.DrawCircle(c, 5.5f, ring);
    }

    static void DrawOpenMarker(SKCanvas canvas, SKPoint c, SKColor color)
    {
        using var fill = new SKPaint { Color = SKColors.White, IsAntialias = true, Style = SKPaintStyle.Fill };
        canvas.DrawCircle(c, 4, fill);
        using var ring = Stroke(color, 1.8f);
        canvas.DrawCircle(c, 4, ring);
    }

    static SKPaint Stroke(SKColor color, float width) => new()
    {
        Color = color,
        IsAntialias = true,
        Style = SKPaintStyle.Stroke,
        StrokeWidth = width,
        StrokeCap = SKStrokeCap.Round,
        StrokeJoin = SKStrokeJoin.Round,
    };

    static SKColor Darken(SKColor c) => new((byte)(c.Red * 0.75), (byte)(c.Green * 0.75), (byte)(c.Blue * 0.75));

    internal static string FormatRate(double v) =>
        v >= 1e6 ? Trim(v / 1e6) + "M" : v >= 1e3 ? Trim(v / 1e3) + "k" : Trim(v);

    internal static string FormatMs(double v) => v >= 1e4 ? Trim(v / 1e3) + "k" : Trim(v);

    static string Trim(double v) => Math.Round(v, 6).ToString("0.######", CultureInfo.InvariantCulture);

    static string Fit(string text, float maxWidth, float size, bool bold = false)
    {
        if (StrokeFont.Measure(text, size, bold) <= maxWidth)
            return text;
        while (text.Length > 1 && StrokeFont.Measure(text + "...", size, bold) > maxWidth)
            text = text[..^1];
        return text.TrimEnd() + "...";
    }

    static IEnumerable<string> Wrap(string text, float maxWidth, float size)
    {
        foreach (var paragraph in text.Split('\n'))
        {
            var line = "";
            foreach (var word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = line.Length == 0 ? word : line + " " + word;
                if (line.Length > 0 && StrokeFont.Measure(candidate, size) > maxWidth)
                {
                    yield return line;
                    line = word;
                }
                else
                {
                    line = candidate;
                }
            }
            if (line.Length > 0)
                yield return Fit(line, maxWidth, size);
        }
    }
}

/// <summary>
/// A small single-stroke font drawn as SkiaSharp paths, so the chart needs no font file and no font manager.
/// Glyphs are SVG path data on a grid where the capital height is 10 units: y = 0 is the top of a capital,
/// y = 3 the x-height, y = 10 the baseline and y = 13 the bottom of a descender. Characters it lacks are drawn as a box.
/// </summary>
internal static class StrokeFont
{
    public enum Align { Left, Center, Right }

    const float Cap = 10;
    const float Gap = 2.1f;
    const float CapPerSize = 0.7f;

    sealed record Glyph(float Advance, SKPath Path);

    static readonly Dictionary<char, Glyph> Glyphs = Build();
    static readonly Glyph Missing = Make(5, "M0 0 L5 0 L5 10 L0 10 Z");

    public static float CapHeight(float size) => size * CapPerSize;

    static float Scale(float size) => size * CapPerSize / Cap;

    static float StrokeWidth(float size, bool bold) => size * (bold ? 0.115f : 0.08f);

    public static float Measure(string text, float size, bool bold = false)
    {
        if (text.Length == 0)
            return 0;
        float units = 0;
        foreach (var ch in text)
            units += Get(ch).Advance + Gap;
        units -= Gap;
        return units * Scale(size) + StrokeWidth(size, bold);
    }

    /// <summary>Draws <paramref name="text"/> with its baseline at <paramref name="baseline"/>.</summary>
    public static void Draw(SKCanvas canvas, string text, float x, float baseline, float size, SKColor color, Align align = Align.Left, bool bold = false)
    {
        if (text.Length == 0)
            return;
        var width = Measure(text, size, bold);
        var left = align switch { Align.Center => x - width / 2, Align.Right => x - width, _ => x };
        var scale = Scale(size);
        var stroke = StrokeWidth(size, bold);

        using var builder = new SKPathBuilder();
        float pen = 0;
        foreach (var ch in text)
        {
            var g = Get(ch);
            builder.AddPath(g.Path, pen, 0, SKPathAddMode.Append);
            pen += g.Advance + Gap;
        }
        using var path = builder.Detach();
        using var paint = new SKPaint
        {
            Color = color,
            IsAntialias = true,
            Style = SKPaintStyle.Stroke,
            StrokeWidth = stroke / scale,
            StrokeCap = SKStrokeCap.Round,
            StrokeJoin = SKStrokeJoin.Round,
        };
        canvas.Save();
        canvas.Translate(left + stroke / 2, baseline - Cap * scale);
        canvas.Scale(scale);
        canvas.DrawPath(path, paint);
        canvas.Restore();
    }

    static Glyph Get(char ch) => Glyphs.TryGetValue(ch, out var g) ? g : Missing;

    static Glyph Make(float advance, string svg) =>
        new(advance, svg.Length == 0 ? new SKPath() : SKPath.ParseSvgPathData(svg) ?? throw new InvalidOperationException($"bad glyph path {svg}"));

    static Dictionary<char, Glyph> Build()
    {
        var d = new Dictionary<char, Glyph>();
        void G(char c, float advance, string svg) => d[c] = Make(advance, svg);

        G(' ', 3.5f, "");
        // Capitals
        G('A', 7, "M0 10 L3.5 0 L7 10 M1.3 6.5 L5.7 6.5");
        G('B', 6.2f, "M0 10 L0 0 L3.5 0 A2.5 2.5 0 0 1 3.5 5 L0 5 M3.5 5 L3.7 5 A2.5 2.5 0 0 1 3.7 10 L0 10");
        G('C', 6.5f, "M6.5 1.5 C5.7 0.5 4.7 0 3.6 0 C1.5 0 0 2.2 0 5 C0 7.8 1.5 10 3.6 10 C4.7 10 5.7 9.5 6.5 8.5");
        G('D', 6.5f, "M0 0 L0 10 L2.5 10 C5 10 6.5 8 6.5 5 C6.5 2 5 0 2.5 0 Z");
        G('E', 5.8f, "M5.8 0 L0 0 L0 10 L5.8 10 M0 5 L4.6 5");
        G('F', 5.6f, "M5.6 0 L0 0 L0 10 M0 5 L4.6 5");
        G('G', 6.6f, "M6.5 1.5 C5.7 0.5 4.7 0 3.6 0 C1.5 0 0 2.2 0 5 C0 7.8 1.5 10 3.6 10 C5.2 10 6.6 9 6.6 7 L6.6 5.6 L4 5.6");
        G('H', 6.2f, "M0 0 L0 10 M6.2 0 L6.2 10 M0 5 L6.2 5");
        G('I', 3, "M0 0 L3 0 M1.5 0 L1.5 10 M0 10 L3 10");
        G('J', 5, "M5 0 L5 7 A2.5 3 0 0 1 0 7");
        G('K', 6, "M0 0 L0 10 M6 0 L0 6.5 M2.1 4.4 L6 10");
        G('L', 5.5f, "M0 0 L0 10 L5.5 10");
        G('M', 7.6f, "M0 10 L0 0 L3.8 7.5 L7.6 0 L7.6 10");
        G('N', 6.2f, "M0 10 L0 0 L6.2 10 L6.2 0");
        G('O', 7, "M3.5 0 C1.5 0 0 2.2 0 5 C0 7.8 1.5 10 3.5 10 C5.5 10 7 7.8 7 5 C7 2.2 5.5 0 3.5 0 Z");
        G('P', 6.2f, "M0 10 L0 0 L3.5 0 A2.7 2.75 0 0 1 3.5 5.5 L0 5.5");
        G('Q', 7, "M3.5 0 C1.5 0 0 2.2 0 5 C0 7.8 1.5 10 3.5 10 C5.5 10 7 7.8 7 5 C7 2.2 5.5 0 3.5 0 Z M4.2 7.2 L7 10.5");
        G('R', 6.2f, "M0 10 L0 0 L3.5 0 A2.7 2.75 0 0 1 3.5 5.5 L0 5.5 M3 5.5 L6.2 10");
        G('S', 6, "M5.8 1.5 C5.2 0.5 4.2 0 3 0 C1.3 0 0.1 1 0.1 2.6 C0.1 4.3 1.5 4.8 3 5.1 C4.7 5.4 6 6 6 7.5 C6 9 4.7 10 3 10 C1.6 10 0.6 9.4 0 8.4");
        G('T', 6.4f, "M0 0 L6.4 0 M3.2 0 L3.2 10");
        G('U', 6.2f, "M0 0 L0 6.9 A3.1 3.1 0 0 0 6.2 6.9 L6.2 0");
        G('V', 7, "M0 0 L3.5 10 L7 0");
        G('W', 9.4f, "M0 0 L2.1 10 L4.7 2 L7.3 10 L9.4 0");
        G('X', 6.4f, "M0 0 L6.4 10 M6.4 0 L0 10");
        G('Y', 7, "M0 0 L3.5 5 L7 0 M3.5 5 L3.5 10");
        G('Z', 6.2f, "M0 0 L6.2 0 L0 10 L6.2 10");
        // Small letters
        const string bowlRight = "A2.5 3.5 0 0 1 5 6.5 A2.5 3.5 0 0 1 0 6.5";
        const string bowlLeft = "M5 6.5 A2.5 3.5 0 0 0 0 6.5 A2.5 3.5 0 0 0 5 6.5";
        G('a', 5, "M5 3 L5 10 " + bowlLeft);
        G('b', 5, "M0 0 L0 10 M0 6.5 " + bowlRight);
        G('c', 5, "M5 4.3 C4.5 3.5 3.6 3 2.6 3 C1.1 3 0 4.6 0 6.5 C0 8.4 1.1 10 2.6 10 C3.6 10 4.5 9.5 5 8.7");
        G('d', 5, "M5 0 L5 10 " + bowlLeft);
        G('e', 5, "M0.1 6.6 L5 6.6 C5 4.6 4 3 2.5 3 C1 3 0 4.6 0 6.5 C0 8.4 1.1 10 2.6 10 C3.6 10 4.4 9.6 5 8.8");
        G('f', 4, "M4 0.4 C3.6 0.1 3.2 0 2.8 0 C1.9 0 1.4 0.7 1.4 2 L1.4 10 M0 3.5 L3.6 3.5");
        G('g', 5, "M5 3 L5 11 C5 12.3 4 13 2.6 13 C1.6 13 0.8 12.6 0.3 12 " + bowlLeft);
        G('h', 5, "M0 0 L0 10 M0 5.6 C0.6 3.8 1.5 3 2.7 3 C4.1 3 5 3.8 5 5.6 L5 10");
        G('i', 1, "M0.5 3 L0.5 10 M0.5 0.5 L0.5 0.7");
        G('j', 2.6f, "M2.1 3 L2.1 11.6 C2.1 12.5 1.6 13 0.7 13 L0 13 M2.1 0.5 L2.1 0.7");
        G('k', 5, "M0 0 L0 10 M4.7 3 L0 7.4 M1.7 5.8 L5 10");
        G('l', 2, "M0.5 0 L0.5 8.7 C0.5 9.5 0.9 10 1.8 10");
        G('m', 7.6f, "M0 3 L0 10 M0 5.2 C0.4 3.7 1.1 3 2.1 3 C3.2 3 3.8 3.8 3.8 5.2 L3.8 10 M3.8 5.2 C4.2 3.7 4.9 3 5.9 3 C7 3 7.6 3.8 7.6 5.2 L7.6 10");
        G('n', 5, "M0 3 L0 10 M0 5.6 C0.6 3.8 1.5 3 2.7 3 C4.1 3 5 3.8 5 5.6 L5 10");
        G('o', 5.2f, "M2.6 3 C1.1 3 0 4.6 0 6.5 C0 8.4 1.1 10 2.6 10 C4.1 10 5.2 8.4 5.2 6.5 C5.2 4.6 4.1 3 2.6 3 Z");
        G('p', 5, "M0 3 L0 13 M0 6.5 " + bowlRight);
        G('q', 5, "M5 3 L5 13 " + bowlLeft);
        G('r', 3.8f, "M0 3 L0 10 M0 6.2 C0.6 4.1 1.6 3 3 3 C3.3 3 3.6 3.05 3.8 3.15");
        G('s', 4.8f, "M4.6 4.1 C4.1 3.4 3.4 3 2.4 3 C1.1 3 0.2 3.7 0.2 4.7 C0.2 5.8 1.2 6.2 2.4 6.5 C3.8 6.8 4.8 7.3 4.8 8.4 C4.8 9.4 3.8 10 2.4 10 C1.3 10 0.4 9.6 0 8.9");
        G('t', 3.8f, "M1.4 0.8 L1.4 8.5 C1.4 9.5 1.9 10 2.7 10 C3.1 10 3.5 9.9 3.8 9.7 M0 3.5 L3.6 3.5");
        G('u', 5, "M0 3 L0 7.4 C0 9.2 0.9 10 2.3 10 C3.5 10 4.4 9.2 5 7.4 M5 3 L5 10");
        G('v', 5.2f, "M0 3 L2.6 10 L5.2 3");
        G('w', 7.6f, "M0 3 L1.9 10 L3.8 4.2 L5.7 10 L7.6 3");
        G('x', 5, "M0 3 L5 10 M5 3 L0 10");
        G('y', 5.2f, "M0 3 L2.7 9.9 M5.2 3 L2.3 11.3 C1.9 12.4 1.3 13 0.3 13");
        G('z', 5, "M0 3 L5 3 L0 10 L5 10");
        // Digits, all as wide as each other so that numbers line up
        G('0', 6, "M3 0 C1.2 0 0 2.2 0 5 C0 7.8 1.2 10 3 10 C4.8 10 6 7.8 6 5 C6 2.2 4.8 0 3 0 Z");
        G('1', 6, "M1.2 2 L3.6 0 L3.6 10");
        G('2', 6, "M0.3 2.4 C0.8 0.8 1.8 0 3.1 0 C4.7 0 5.8 1.1 5.8 2.7 C5.8 4.4 4.6 5.6 0 10 L6 10");
        G('3', 6, "M0.4 0 L5.6 0 L2.6 4 C4.6 4 6 5.1 6 7 C6 8.8 4.6 10 3 10 C1.7 10 0.7 9.5 0 8.5");
        G('4', 6, "M4.6 10 L4.6 0 L0 7 L6 7");
        G('5', 6, "M5.6 0 L0.8 0 L0.4 4.6 C1.1 4 2 3.7 3 3.7 C4.8 3.7 6 5 6 6.8 C6 8.7 4.7 10 2.9 10 C1.7 10 0.7 9.5 0 8.6");
        G('6', 6, "M5.3 1 C4.7 0.3 3.9 0 3.1 0 C1.2 0 0 2.2 0 5.5 C0 8.3 1.2 10 3 10 C4.8 10 6 8.7 6 6.8 C6 5 4.8 3.8 3.1 3.8 C1.6 3.8 0.5 4.7 0 6");
        G('7', 6, "M0 0 L6 0 L2 10");
        G('8', 6, "M3 4.6 C1.5 4.6 0.5 3.7 0.5 2.3 C0.5 0.9 1.5 0 3 0 C4.5 0 5.5 0.9 5.5 2.3 C5.5 3.7 4.5 4.6 3 4.6 C1.3 4.6 0 5.6 0 7.3 C0 8.9 1.3 10 3 10 C4.7 10 6 8.9 6 7.3 C6 5.6 4.7 4.6 3 4.6 Z");
        G('9', 6, "M0.7 9 C1.3 9.7 2.1 10 2.9 10 C4.8 10 6 7.8 6 4.5 C6 1.7 4.8 0 3 0 C1.2 0 0 1.3 0 3.2 C0 5 1.2 6.2 2.9 6.2 C4.4 6.2 5.5 5.3 6 4");
        // Punctuation and symbols
        G('.', 1, "M0.5 9.8 L0.5 10");
        G(',', 1.5f, "M1 9.6 L1 10 L0.2 11.8");
        G(':', 1, "M0.5 3.8 L0.5 4 M0.5 9.8 L0.5 10");
        G(';', 1.5f, "M1 3.8 L1 4 M1 9.6 L1 10 L0.2 11.8");
        G('-', 3.6f, "M0 6 L3.6 6");
        G('\u2013', 5.5f, "M0 6 L5.5 6");
        G('\u2014', 9, "M0 6 L9 6");
        G('\u2212', 5, "M0 6 L5 6");
        G('+', 5, "M0 6 L5 6 M2.5 3.5 L2.5 8.5");
        G('=', 5, "M0 4.8 L5 4.8 M0 7.4 L5 7.4");
        G('<', 5, "M5 3 L0 6.2 L5 9.4");
        G('>', 5, "M0 3 L5 6.2 L0 9.4");
        G('\u2264', 5, "M5 2.5 L0 5.5 L5 8.5 M0 10.5 L5 10.5");
        G('\u2265', 5, "M0 2.5 L5 5.5 L0 8.5 M0 10.5 L5 10.5");
        G('\u00d7', 4.4f, "M0 4 L4.4 8.4 M4.4 4 L0 8.4");
        G('\u00b7', 1, "M0.5 6 L0.5 6.2");
        G('\u00b5', 5, "M0 3 L0 13 M0 7.4 C0 9.2 0.9 10 2.3 10 C3.5 10 4.4 9.2 5 7.4 M5 3 L5 10");
        G('/', 4.5f, "M0 11 L4.5 -1");
        G('\\', 4.5f, "M0 -1 L4.5 11");
        G('|', 1, "M0.5 -1 L0.5 12");
        G('_', 6, "M0 11.5 L6 11.5");
        G('(', 2.6f, "M2.6 -0.5 C0.9 1.5 0 3.8 0 5.75 C0 7.7 0.9 10 2.6 12");
        G(')', 2.6f, "M0 -0.5 C1.7 1.5 2.6 3.8 2.6 5.75 C2.6 7.7 1.7 10 0 12");
        G('[', 2.6f, "M2.6 -0.5 L0 -0.5 L0 12 L2.6 12");
        G(']', 2.6f, "M0 -0.5 L2.6 -0.5 L2.6 12 L0 12");
        G('{', 3.2f, "M3.2 -0.5 C1.8 -0.5 1.5 0.3 1.5 1.6 L1.5 4.3 C1.5 5.2 1 5.75 0 5.75 C1 5.75 1.5 6.3 1.5 7.2 L1.5 9.9 C1.5 11.2 1.8 12 3.2 12");
        G('}', 3.2f, "M0 -0.5 C1.4 -0.5 1.7 0.3 1.7 1.6 L1.7 4.3 C1.7 5.2 2.2 5.75 3.2 5.75 C2.2 5.75 1.7 6.3 1.7 7.2 L1.7 9.9 C1.7 11.2 1.4 12 0 12");
        G('%', 7.4f, "M1.6 0 C0.7 0 0 0.9 0 2 C0 3.1 0.7 4 1.6 4 C2.5 4 3.2 3.1 3.2 2 C3.2 0.9 2.5 0 1.6 0 Z M5.8 6 C4.9 6 4.2 6.9 4.2 8 C4.2 9.1 4.9 10 5.8 10 C6.7 10 7.4 9.1 7.4 8 C7.4 6.9 6.7 6 5.8 6 Z M6.6 0 L0.8 10");
        G('#', 6.2f, "M2 1 L1.2 9.4 M5 1 L4.2 9.4 M0 3.8 L6.2 3.8 M0 6.6 L6 6.6");
        G('*', 5, "M2.5 0.5 L2.5 5.5 M0.3 1.7 L4.7 4.3 M4.7 1.7 L0.3 4.3");
        G('\'', 1, "M0.5 0 L0.5 2.6");
        G('"', 3, "M0.5 0 L0.5 2.6 M2.5 0 L2.5 2.6");
        G('`', 1.5f, "M0 0 L1.5 1.8");
        G('^', 5, "M0 3.5 L2.5 0 L5 3.5");
        G('~', 6, "M0 6.6 C1 4.9 2 4.9 3 6.1 C4 7.3 5 7.3 6 5.6");
        G('!', 1, "M0.5 0 L0.5 7 M0.5 9.8 L0.5 10");
        G('?', 5.2f, "M0 2.5 C0 1 1.2 0 2.7 0 C4.2 0 5.2 1 5.2 2.4 C5.2 3.9 2.7 4.5 2.7 7 M2.7 9.8 L2.7 10");
        G('$', 6, "M5.8 1.5 C5.2 0.5 4.2 0 3 0 C1.3 0 0.1 1 0.1 2.6 C0.1 4.3 1.5 4.8 3 5.1 C4.7 5.4 6 6 6 7.5 C6 9 4.7 10 3 10 C1.6 10 0.6 9.4 0 8.4 M3 -1.2 L3 11.2");
        G('&', 6.6f, "M6.6 10 L1.6 4 C1 3.2 0.8 2.6 0.8 2 C0.8 0.8 1.7 0 2.8 0 C3.9 0 4.6 0.8 4.6 1.8 C4.6 3 3.7 3.8 2 4.9 C0.7 5.8 0 6.6 0 7.6 C0 9 1.1 10 2.6 10 C4 10 5.2 9 6.2 7");
        G('@', 9, "M6.4 3.3 L6 7 C5.9 8 6.4 8.6 7.2 8.6 C8.3 8.6 9 7.2 9 5.5 C9 2.5 7 0.5 4.5 0.5 C1.9 0.5 0 2.7 0 5.6 C0 8.6 2 10.6 4.6 10.6 C5.6 10.6 6.5 10.3 7.2 9.8 M6.2 5.2 C6 4 5.3 3.3 4.4 3.3 C3.3 3.3 2.5 4.4 2.5 5.9 C2.5 7.3 3.2 8.4 4.3 8.4 C5.2 8.4 5.9 7.5 6.1 6.4");
        return d;
    }
}
