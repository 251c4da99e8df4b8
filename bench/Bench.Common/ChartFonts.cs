using ScottPlot;

namespace Chat.Benchmarks;

/// <summary>
/// Text for the charts from font files, not from the system's font manager: SkiaSharp's NoDependencies native library
/// (the one ScottPlot brings on Linux) has no fontconfig, so a family asked for by name would come out as empty boxes.
/// DejaVu Sans is Debian's fonts-dejavu-core.
/// </summary>
public static class ChartFonts
{
    public const string Family = "DejaVu Sans";

    private static readonly string[] Folders = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF"];
    private static readonly Lazy<string> Registered = new(Register);

    /// <summary>A plot whose every text uses <see cref="Family"/>; throws when the font files are missing.</summary>
    public static Plot NewPlot()
    {
        var plot = new Plot();
        plot.Font.Set(Registered.Value);
        plot.Legend.FontName = Registered.Value;
        return plot;
    }

    private static string Register()
    {
        foreach (var folder in Folders)
        {
            var regular = Path.Combine(folder, "DejaVuSans.ttf");
            var bold = Path.Combine(folder, "DejaVuSans-Bold.ttf");
            if (!File.Exists(regular))
                continue;
            Fonts.AddFontFile(Family, regular, bold: false, italic: false);
            Fonts.AddFontFile(Family, File.Exists(bold) ? bold : regular, bold: true, italic: false);
            Fonts.Default = Family;
            return Family;
        }
        throw new InvalidOperationException(
            $"no DejaVuSans.ttf in {string.Join(", ", Folders)}: install the fonts (Debian: apt-get install fonts-dejavu-core) to draw charts");
    }

    /// <summary>Splits <paramref name="text"/> at spaces into lines of at most <paramref name="width"/> characters (longer words stay whole).</summary>
    public static IEnumerable<string> Wrap(string text, int width)
    {
        var line = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line;
                line = "";
            }
            line = line.Length == 0 ? word : line + " " + word;
        }
        if (line.Length > 0)
            yield return line;
    }
}
