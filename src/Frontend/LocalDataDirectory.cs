namespace Chat.Frontend;

/// <summary>
/// Where the stack keeps its files unless told (<c>Chat:DataDirectory</c>): <c>.data</c> in the repository, else the
/// user's local application data. The gateway's generated token key lives there, and a local run's PostgreSQL cluster;
/// so it is here, beside the gateway, and not in Chat.Development, which production does not reference.
/// </summary>
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
