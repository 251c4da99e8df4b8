using Chat.Frontend;

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

    public string ResolveDataDirectory() => LocalDataDirectory.Resolve(DataDirectory);
}
