using Microsoft.Extensions.Options;

namespace Chat.Frontend.Delivery;

/// <summary>The <c>Chat:Gateway</c> section.</summary>
public sealed class GatewayOptions
{
    /// <summary>Largest request message accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024;

    /// <summary>Live Connect streams one identity may hold on this gateway.</summary>
    public int MaxConnectionsPerIdentity { get; set; } = 16;

    /// <summary>Live Connect streams this gateway holds in all.</summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// Live Connect streams one client address (an IPv4 address, or an IPv6 /64) may hold on this gateway, whatever
    /// identities they use: anonymous Connects are a new identity each, so the per-identity cap does not hold them.
    /// </summary>
    public int MaxConnectionsPerAddress { get; set; } = 256;

    /// <summary>
    /// New identities one client address may make, per minute, sustained: <c>CreateIdentity</c> and every Connect without
    /// a token draw from the same bucket. 0 turns the limit off.
    /// </summary>
    public double IdentitiesPerMinutePerAddress { get; set; } = 10;

    /// <summary>How many new identities one client address may make at once before <see cref="IdentitiesPerMinutePerAddress"/> applies.</summary>
    public int IdentityBurstPerAddress { get; set; } = 30;

    /// <summary>
    /// Reducer calls (send_message, set_name, ...) one client address may make per second, across all its identities and
    /// databases; 0 turns the limit off. The per-identity and per-database limits are each database's own settings.
    /// </summary>
    public double WritesPerSecondPerAddress { get; set; } = 50;

    public int WriteBurstPerAddress { get; set; } = 200;

    /// <summary>
    /// Database names this gateway does not know to exist that one client address may ask for, per minute (a name it
    /// has seen answer is free afterwards); 0 turns the limit off.
    /// </summary>
    public double UnknownDatabasesPerMinutePerAddress { get; set; } = 60;

    public int UnknownDatabaseBurstPerAddress { get; set; } = 100;

    /// <summary>
    /// Client addresses whose limits the gateway keeps at most; past it, the least recently seen addresses without a
    /// live stream are forgotten first (they start again with a full bucket). Bounds the limiter's memory.
    /// </summary>
    public int MaxTrackedAddresses { get; set; } = 100_000;

    /// <summary>Live subscription sets (one per Subscribe request) one Connect stream may hold.</summary>
    public int MaxSubscriptionsPerConnection { get; set; } = 32;

    /// <summary>Characters of query text one Connect stream's live subscriptions may hold in all.</summary>
    public int MaxSubscriptionTextPerConnection { get; set; } = 64 * 1024;

    /// <summary>
    /// Join queries one Connect stream's live subscriptions may hold in all (each also counts in the limits above): every
    /// change is offered to every join subscription of its database, and a changed user may mean a read from PostgreSQL.
    /// </summary>
    public int MaxJoinQueriesPerConnection { get; set; } = 4;

    /// <summary>SQL queries one identity may have running at once through this gateway.</summary>
    public int MaxSqlQueriesPerIdentity { get; set; } = 2;

    /// <summary>SQL queries one client address may have running at once through this gateway, whatever identities it uses.</summary>
    public int MaxSqlQueriesPerAddress { get; set; } = 4;

    /// <summary>SQL queries this gateway runs at once in all.</summary>
    public int MaxSqlQueries { get; set; } = 16;

    /// <summary><c>Logs</c> follow streams this gateway holds in all (each also counts against <see cref="MaxConnectionsPerAddress"/>).</summary>
    public int MaxLogFollowers { get; set; } = 1000;

    /// <summary>
    /// Settings that lift every per-client-address limit, for tests, benchmarks and chaos runs whose clients all come from
    /// 127.0.0.1 (one address) and stand for many users. Configuration keys (<c>Chat:Gateway:…</c>); as environment
    /// variables, <see cref="AsEnvironment"/>.
    /// </summary>
    public static IReadOnlyDictionary<string, string> AddressLimitsLifted { get; } = new Dictionary<string, string>
    {
        ["Chat:Gateway:MaxConnectionsPerAddress"] = "1000000",
        ["Chat:Gateway:IdentitiesPerMinutePerAddress"] = "1000000",
        ["Chat:Gateway:IdentityBurstPerAddress"] = "1000000",
        ["Chat:Gateway:MaxSqlQueriesPerAddress"] = "1000000",
        ["Chat:Gateway:WritesPerSecondPerAddress"] = "0",
        ["Chat:Gateway:UnknownDatabasesPerMinutePerAddress"] = "0",
    };

    /// <summary>Configuration keys as environment variable names (<c>Chat__Gateway__…</c>).</summary>
    public static IEnumerable<KeyValuePair<string, string>> AsEnvironment(IReadOnlyDictionary<string, string> settings) =>
        settings.Select(s => KeyValuePair.Create(s.Key.Replace(":", "__", StringComparison.Ordinal), s.Value));

    /// <summary>Messages waiting for one slow client before it is disconnected with RESOURCE_EXHAUSTED.</summary>
    public int SendQueueCapacity { get; set; } = 4096;

    /// <summary>
    /// How long a client whose stream is over (evicted, or done) has to take the message being written before the gateway
    /// aborts its call. Its connection, subscriptions and online status are released at once regardless.
    /// </summary>
    public TimeSpan EvictionGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Rows per SubscribeApplied chunk.</summary>
    public int SnapshotChunkRows { get; set; } = 1000;

    /// <summary>How often the gateway renews its change-feed subscriptions (they expire after 60 s) and checks it missed nothing.</summary>
    public TimeSpan FeedRenewInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the gateway tells the cluster it is alive; keep well under the silos' Chat:Connections:GatewayTimeout.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);
}
