using System.Text.Json;
using System.Text.Json.Serialization;

namespace Chat.Benchmarks;

/// <summary>Where every benchmark writes its results (bench/results, git-ignored) and how its JSON is spelled.</summary>
public static class ResultFiles
{
    /// <summary>snake_case, indented; NaN is allowed because a percentile of no calls is NaN.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The checkout (the folder holding Chat.sln) from the working directory or the program's own folder.</summary>
    public static string RepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Chat.sln")))
                    return dir.FullName;
        return Directory.GetCurrentDirectory();
    }

    /// <summary>bench/results/PREFIX-yyyyMMdd-HHmmss.EXTENSION; the folder is created.</summary>
    public static string PathFor(string prefix, DateTime started, string extension)
    {
        var folder = Path.Combine(RepositoryRoot(), "bench", "results");
        Directory.CreateDirectory(folder);
        return Path.Combine(folder, $"{prefix}-{started:yyyyMMdd-HHmmss}.{extension}");
    }

    /// <summary>Writes <paramref name="report"/> as bench/results/PREFIX-STAMP.json and returns the path.</summary>
    public static async Task<string> WriteJsonAsync<T>(string prefix, DateTime started, T report)
    {
        var file = PathFor(prefix, started, "json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(report, Json));
        return file;
    }
}
