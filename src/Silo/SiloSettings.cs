namespace Chat.Silo;

/// <summary>The <c>Chat</c> section of appsettings.json (or <c>Chat__*</c> environment variables).</summary>
public sealed class SiloSettings
{
    /// <summary>Where the local PostgreSQL cluster lives when no connection string is given. Default: <c>.data</c> in the repository.</summary>
    public string? DataDirectory { get; set; }
    public string ClusterId { get; set; } = "chat-local";
    public string ServiceId { get; set; } = "chat";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    public string AdvertisedIPAddress { get; set; } = "127.0.0.1";
    public bool ListenOnAnyAddress { get; set; }

    public string ResolveDataDirectory()
    {
        if (!string.IsNullOrWhiteSpace(DataDirectory))
            return Path.GetFullPath(DataDirectory);
        // The repository root (where Chat.sln is), found from the working directory or the binaries.
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
