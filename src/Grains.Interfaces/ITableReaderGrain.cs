namespace Chat;

[GenerateSerializer, Immutable]
public sealed record VersionedUser(
    [property: Id(0)] UserRow Row,
    [property: Id(1)] long Version);

/// <summary>A consistent picture of one database: all users with their versions, and the last message offset.</summary>
[GenerateSerializer, Immutable]
public sealed record DatabaseSnapshot(
    [property: Id(0)] long DatabaseId,
    [property: Id(1)] IReadOnlyList<VersionedUser> Users,
    [property: Id(2)] long LastOffset);

/// <summary>Reads for subscribers (snapshots, history, catch-up); stateless, so every silo serves them.</summary>
public interface ITableReaderGrain : IGrainWithIntegerKey
{
    /// <summary>Null when the database does not exist.</summary>
    Task<DatabaseSnapshot?> LoadSnapshot(string database);

    /// <summary>
    /// Messages with offsets in (<paramref name="afterOffset"/>, <paramref name="uptoOffset"/>] that pass the
    /// subscription query's WHERE (evaluated by PostgreSQL), in offset order, at most <paramref name="limit"/>.
    /// </summary>
    Task<IReadOnlyList<MessageRow>> ReadMessages(long databaseId, string subscriptionQuery, Identity subscriber, long afterOffset, long uptoOffset, int limit);

    /// <summary>
    /// The distinct senders of the messages with offsets in (<paramref name="afterOffset"/>, <paramref name="uptoOffset"/>]
    /// that pass the subscription query's WHERE, at most <paramref name="limit"/> (in identity order): what a join
    /// subscription on users needs to know of the messages it joins with.
    /// </summary>
    Task<IReadOnlyList<Identity>> ReadSenders(long databaseId, string subscriptionQuery, Identity subscriber, long afterOffset, long uptoOffset, int limit);
}
