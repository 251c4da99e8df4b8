using System.Text.Json;
using System.Text.Json.Serialization;

namespace Chat.Cli;

/// <summary>The saved state: gateways by nickname, and identities (identity + token) per gateway.</summary>
internal sealed class ConfigData
{
    public const string LocalNickname = "local";
    public const string LocalAddress = "http://127.0.0.1:50051";

    public int Version { get; set; } = 1;
    public string? DefaultServer { get; set; } = LocalNickname;
    public List<ServerEntry> Servers { get; set; } = [new() { Nickname = LocalNickname, Address = LocalAddress }];
    public List<IdentityEntry> Identities { get; set; } = [];

    public ServerEntry? FindServer(string nicknameOrAddress)
    {
        var byName = Servers.FirstOrDefault(s => s.Nickname == nicknameOrAddress);
        if (byName is not null) return byName;
        var address = ServerAddress.TryNormalize(nicknameOrAddress);
        return address is null ? null : Servers.FirstOrDefault(s => s.Address == address);
    }

    public IEnumerable<IdentityEntry> IdentitiesOf(string server) => Identities.Where(i => i.Server == server);

    /// <summary>The saved identity of <paramref name="server"/> named by nickname, or by a unique prefix of its hex (0x optional).</summary>
    public IdentityEntry FindIdentity(string server, string selector)
    {
        var mine = IdentitiesOf(server).ToList();
        var byName = mine.FirstOrDefault(i => i.Nickname == selector);
        if (byName is not null) return byName;
        var hex = selector.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? selector[2..] : selector;
        var matches = hex.Length == 0 ? [] : mine.Where(i => i.Identity.StartsWith(hex, StringComparison.OrdinalIgnoreCase)).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new CliException($"no saved identity '{selector}' for {server} (see: chat identity list)"),
            _ => throw new CliException($"'{selector}' matches {matches.Count} saved identities; give more of it"),
        };
    }
}

internal sealed class ServerEntry
{
    public string Nickname { get; set; } = "";
    public string Address { get; set; } = "";
}

internal sealed class IdentityEntry
{
    public string Server { get; set; } = "";
    public string Identity { get; set; } = "";
    public string Token { get; set; } = "";
    public string? Nickname { get; set; }
    public bool Default { get; set; }
    public DateTimeOffset Created { get; set; }
}

/// <summary>
/// <c>config.json</c> in the configuration folder, readable by its owner only (0600, folder 0700). Changes are
/// read-modify-write under an exclusive lock file and replace the file atomically, so two runs at once lose nothing.
/// </summary>
internal sealed class ConfigStore(string directory)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string Directory { get; } = directory;
    public string FilePath => Path.Combine(Directory, "config.json");

    /// <summary>The configuration folder the real tool uses: <c>$XDG_CONFIG_HOME/chat</c>, else <c>~/.config/chat</c>.</summary>
    public static string DefaultDirectory()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        var root = string.IsNullOrEmpty(xdg)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config")
            : xdg;
        return Path.Combine(root, "chat");
    }

    public ConfigData Load()
    {
        if (!File.Exists(FilePath)) return new ConfigData();
        try
        {
            return JsonSerializer.Deserialize<ConfigData>(File.ReadAllText(FilePath), Json) ?? new ConfigData();
        }
        catch (JsonException e)
        {
            throw new CliException($"{FilePath} is not valid JSON ({e.Message}); fix or remove it");
        }
    }

    public T Update<T>(Func<ConfigData, T> change)
    {
        CreateDirectory();
        using var _ = Lock();
        var config = Load();
        var result = change(config);
        Save(config);
        return result;
    }

    private void CreateDirectory()
    {
        if (System.IO.Directory.Exists(Directory)) return;
        if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(Directory);
        else System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private FileStream Lock()
    {
        var path = Path.Combine(Directory, "config.lock");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
                if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                return new FileStream(path, options);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
            }
            catch (IOException e)
            {
                throw new CliException($"{path} stays locked by another run of chat ({e.Message})");
            }
        }
    }

    private void Save(ConfigData config)
    {
        var temporary = FilePath + $".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        // Owner-only from the first byte on: the file holds tokens.
        using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            JsonSerializer.Serialize(stream, config, Json);
            stream.WriteByte((byte)'\n');
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, FilePath, overwrite: true);
    }
}

/// <summary>Gateway addresses: <c>host:port</c> means <c>http://host:port</c>; paths and trailing slashes are dropped.</summary>
internal static class ServerAddress
{
    public static string? TryNormalize(string text)
    {
        var candidate = text.Trim();
        if (candidate.Length == 0) return null;
        if (!candidate.Contains("://", StringComparison.Ordinal)) candidate = "http://" + candidate;
        if (!Uri.TryCreate(candidate, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            return null;
        return uri.GetLeftPart(UriPartial.Authority);
    }

    public static string Normalize(string text) =>
        TryNormalize(text) ?? throw new UsageException($"'{text}' is not a gateway address (expected http://host:port) nor a saved server (see: chat server list)");

    public static bool IsLoopback(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && (uri.IsLoopback || uri.Host == "localhost");
}
