using System.Globalization;
using System.Text;

namespace Chat.Benchmarks;

/// <summary>
/// The summary at the end of a run: each line goes to the console and to bench/results/PREFIX-STAMP.md, so that the tables
/// and target lines a README takes are the ones that were printed. A target line says MET or NOT MET; the exit code never
/// depends on it.
/// </summary>
public sealed class SummaryWriter(string prefix, DateTime started, string program)
{
    private readonly StringBuilder _md = new StringBuilder().AppendLine(CultureInfo.InvariantCulture, $"# {program} {started:yyyy-MM-dd HH:mm:ss} UTC").AppendLine();

    public void Line(string text = "")
    {
        Console.WriteLine(text);
        _md.AppendLine(text);
    }

    /// <summary>A line for the file only (the console has said it another way).</summary>
    public void FileOnly(string text = "") => _md.AppendLine(text);

    public static string Met(bool met) => met ? "MET" : "NOT MET";

    /// <summary>For "(target >= 5x, NOT MET)": nothing when met.</summary>
    public static string NotMet(bool met) => met ? "" : ", NOT MET";

    /// <summary>Writes the markdown file and returns its path.</summary>
    public async Task<string> WriteAsync()
    {
        var file = ResultFiles.PathFor(prefix, started, "md");
        await File.WriteAllTextAsync(file, _md.ToString());
        return file;
    }
}
