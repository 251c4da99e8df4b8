using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>
/// What the grains and silo jobs log; source-generated so that a disabled level costs no formatting. The messages and
/// their structured names are what operators and the tests read: change them as an interface.
/// </summary>
internal static partial class GrainsLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Information,
        Message = "Storage reachable; gateways get {GatewayTimeout} to heartbeat before any is taken for dead")]
    public static partial void StorageReachable(this ILogger logger, TimeSpan gatewayTimeout);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information,
        Message = "Ended connection {ConnectionId} of {Identity} in {Database}: its gateway stopped responding ({Result})")]
    public static partial void EndedOrphanedConnection(this ILogger logger, ConnectionId connectionId, Identity identity, string database, ReducerResult result);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information,
        Message = "Moved the settings of database {Database} (id {DatabaseId}) from its grain state to its catalog row{Note}")]
    public static partial void AdoptedLegacySettings(this ILogger logger, string database, long databaseId, string note);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "Could not clear the old grain state of database {Database} ({Reason}); it is no longer read")]
    public static partial void LegacyStateNotCleared(this ILogger logger, string database, string reason);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Published database {Database} (id {DatabaseId}, owner {Owner}{Cleared})")]
    public static partial void PublishedDatabase(this ILogger logger, string database, long databaseId, Identity owner, string cleared);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Information, Message = "Deleted database {Database} (id {DatabaseId}) and all its rows")]
    public static partial void DeletedDatabase(this ILogger logger, string database, long databaseId);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "Updated settings of database {Database}: {Settings}")]
    public static partial void UpdatedSettings(this ILogger logger, string database, ModuleSettings settings);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Could not write to the module log of {Database} ({Reason}): {Message}")]
    public static partial void ModuleLogRecordLost(this ILogger logger, string database, string reason, string message);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning,
        Message = "Could not tell a silo about a change of {Database} ({Reason}); its cached descriptor expires instead")]
    public static partial void WatcherNotTold(this ILogger logger, string database, string reason);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning,
        Message = "Could not publish messages {First}..{Last} of {Database}: {Reason}; subscribers catch up by offset")]
    public static partial void MessagesNotPublished(this ILogger logger, long first, long last, string database, string reason);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Could not write {Count} module log records of {Database} ({Reason}): {Records}")]
    public static partial void ModuleLogRecordsLost(this ILogger logger, int count, string database, string reason, string records);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "Pruning the module log failed ({Reason}); will retry later")]
    public static partial void ModuleLogPruneFailed(this ILogger logger, string reason);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Information,
        Message = "Recomputed {Count} stored name keys for the current rules ({Version}); {Clashes} names now look like another and were kept")]
    public static partial void RecomputedNameKeys(this ILogger logger, int count, string version, int clashes);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Warning, Message = "Could not recompute stored name keys ({Reason}); trying again in {Delay}")]
    public static partial void NameKeysNotRecomputed(this ILogger logger, string reason, TimeSpan delay);

    [LoggerMessage(EventId = 3015, Level = LogLevel.Warning, Message = "Could not {Purpose} ({Reason}); will try again in {Interval}")]
    public static partial void PeriodicJobFailed(this ILogger logger, string purpose, string reason, TimeSpan interval);

    [LoggerMessage(EventId = 3016, Level = LogLevel.Warning, Message = "Could not open {Count} PostgreSQL connections ahead of the first calls: {Reason}")]
    public static partial void WarmUpFailed(this ILogger logger, int count, string reason);

    [LoggerMessage(EventId = 3017, Level = LogLevel.Warning, Message = "SQL on {Database} failed: {Reason}")]
    public static partial void SqlFailed(this ILogger logger, string database, string reason);

    [LoggerMessage(EventId = 3018, Level = LogLevel.Warning,
        Message = "Two calls with one idempotency key raced in database {Database} while {Action}; the later one was refused")]
    public static partial void IdempotencyKeyRaced(this ILogger logger, string database, string action);

    [LoggerMessage(EventId = 3019, Level = LogLevel.Error,
        Message = "Storage failed while {Action} in database {Database}, after the commit was sent; it may have taken effect")]
    public static partial void CommitOutcomeUnknown(this ILogger logger, Exception exception, string action, string database);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Error, Message = "Storage failed while {Action} in database {Database}; nothing was committed")]
    public static partial void StorageFailed(this ILogger logger, Exception exception, string action, string database);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "Could not publish the expiry of {Count} users in {Database}: {Reason}")]
    public static partial void ExpiryNotPublished(this ILogger logger, int count, string database, string reason);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Information,
        Message = "Expired {Count} anonymous users of {Database} (never named, offline, no messages, not seen for {Retention})")]
    public static partial void ExpiredUsers(this ILogger logger, int count, string database, TimeSpan retention);

    /// <summary>The seed's warning for a disconnect of an unknown user, also written to the database's module log.</summary>
    [LoggerMessage(EventId = 3023, Level = LogLevel.Warning, Message = "[{Database}] {Warning}")]
    public static partial void ReducerWarning(this ILogger logger, string database, string? warning);

    [LoggerMessage(EventId = 3024, Level = LogLevel.Warning, Message = "Could not publish the {Reducer} change of {Identity} in {Database}: {Reason}")]
    public static partial void UserChangeNotPublished(this ILogger logger, string reducer, Identity identity, string database, string reason);
}
