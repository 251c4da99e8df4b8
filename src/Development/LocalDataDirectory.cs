namespace Chat.Development;

/// <summary>Where a local run keeps its files (PostgreSQL cluster, token signing key): <c>.data</c> in the repository.</summary>
public static class LocalDataDirectory
{
    public static string Resolve(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
            return Path.GetFullPath(configured);
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Chat.sln")))
                    return Path.Combine(dir.FullName, ".data");
        }
        var home = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        return Path.Combine(string.IsNullOrEmpty(home) ? Path.GetTempPath() : home, "chat");
    }
}
