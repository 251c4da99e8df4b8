using Microsoft.Extensions.Logging;

namespace Chat.Frontend.Delivery;

/// <summary>
/// Every console line of the gateway's delivery side (replicas, subscriptions, log tails, the gateway registry, limits),
/// source-generated so that a disabled level costs no formatting or boxing. EventIds 2100–2199 are this project's
/// (Frontend has 2000–2099), so a log filter or alert can name a line without matching its text.
/// </summary>
internal static partial class DeliveryLog
{
    // ---- database replicas ----

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information,
        Message = "Replica of {Database}: feed position {Epoch}/{Sequence} does not follow {OurEpoch}/{OurSequence}; resynchronising")]
    public static partial void FeedOutOfStep(this ILogger logger, string database, Guid epoch, long sequence, Guid ourEpoch, long ourSequence);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning,
        Message = "Replica of {Database} is {Count} feed batches behind; dropping them and resynchronising once it catches up")]
    public static partial void ReplicaBehind(this ILogger logger, string database, int count);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Replica of {Database} dropped work after stopping")]
    public static partial void ReplicaDroppedWork(this ILogger logger, string database);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Replica of {Database}: an update failed; resynchronising")]
    public static partial void ReplicaUpdateFailed(this ILogger logger, Exception exception, string database);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Error, Message = "Replica of {Database} could not resynchronise")]
    public static partial void ReplicaResyncFailed(this ILogger logger, Exception exception, string database);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Warning,
        Message = "Replica of {Database}: a join subscription of connection {ConnectionId} could not follow a change: {Reason}")]
    public static partial void JoinCouldNotFollow(this ILogger logger, string database, ConnectionId connectionId, string reason);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Information,
        Message = "Replica of {Database} stopped under a subscriber ({Reason}); starting a fresh one")]
    public static partial void ReplicaStoppedUnderSubscriber(this ILogger logger, string database, string reason);

    // ---- subscriptions ----

    [LoggerMessage(EventId = 2110, Level = LogLevel.Warning, Message = "Subscribe for {ConnectionId} to {Database} failed: {Reason}")]
    public static partial void SubscribeFailed(this ILogger logger, ConnectionId connectionId, string database, string reason);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Warning,
        Message = "Refused a subscription of connection {ConnectionId} (identity {Identity}, database {Database}): {Refusal} (later refusals of this connection are counted, not logged)")]
    public static partial void SubscriptionRefused(this ILogger logger, ConnectionId connectionId, Identity identity, string database, string refusal);

    // ---- the gateway in the cluster's registry ----

    [LoggerMessage(EventId = 2120, Level = LogLevel.Information, Message = "Gateway {GatewayId} started")]
    public static partial void GatewayStarted(this ILogger logger, Guid gatewayId);

    [LoggerMessage(EventId = 2121, Level = LogLevel.Warning,
        Message = "Gateway heartbeat failed ({Reason}); the cluster will end this gateway's connections if it persists")]
    public static partial void HeartbeatFailed(this ILogger logger, string reason);

    [LoggerMessage(EventId = 2122, Level = LogLevel.Warning,
        Message = "Could not deregister gateway {GatewayId} ({Reason}); the cluster will forget it after its timeout")]
    public static partial void DeregisterFailed(this ILogger logger, Guid gatewayId, string reason);

    // ---- module log followers ----

    [LoggerMessage(EventId = 2130, Level = LogLevel.Warning,
        Message = "Refused a log follower of {Database}: this gateway has {Count} (Chat:Gateway:MaxLogFollowers)")]
    public static partial void LogFollowerRefused(this ILogger logger, string database, int count);

    [LoggerMessage(EventId = 2131, Level = LogLevel.Debug, Message = "Could not unfollow the log of {Database}: {Reason}")]
    public static partial void UnfollowFailed(this ILogger logger, string database, string reason);

    [LoggerMessage(EventId = 2132, Level = LogLevel.Warning, Message = "Following the log of {Database}: {Reason}")]
    public static partial void FollowingLogFailed(this ILogger logger, string database, string reason);

    // ---- limits ----

    [LoggerMessage(EventId = 2140, Level = LogLevel.Warning,
        Message = "Address limits: {Count} client addresses forgotten to stay within {Max} (Chat:Gateway:MaxTrackedAddresses)")]
    public static partial void AddressesForgotten(this ILogger logger, int count, int max);

    [LoggerMessage(EventId = 2141, Level = LogLevel.Warning,
        Message = "Refused client address {Address} ({Limit}): {Refusal} ({Unlogged} more refusals of this address since the last line; at most one line a minute per address)")]
    public static partial void AddressRefused(this ILogger logger, string address, string limit, string refusal, int unlogged);

    [LoggerMessage(EventId = 2150, Level = LogLevel.Warning,
        Message = "Refused a SQL query ({Limit}): {Refusal} ({Unlogged} more SQL refusals since the last line; at most one line a minute)")]
    public static partial void SqlQueryRefused(this ILogger logger, string limit, string refusal, int unlogged);
}
