using Chat.Storage;

namespace Chat.Grains;

/// <summary>
/// Where <see cref="MessageGroupCommitter"/> sends its groups: PostgreSQL in the silo (<see cref="StoreMessageGroupWriter"/>),
/// a scripted writer in its unit tests. The contract is <see cref="MessageStore"/>'s.
/// </summary>
internal interface IMessageGroupWriter
{
    /// <summary>The last offset and timestamp committed, to continue from.</summary>
    Task<(long LastOffset, DateTime LastSent)> LoadTailAsync(long databaseId);

    /// <summary>Inserts and commits a group in one autocommitted statement.</summary>
    Task AppendAsync(long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages, IReadOnlyList<KeyedCall?>? keys);

    /// <summary>Inserts a group in a transaction left open, to be committed behind the group before.</summary>
    Task<IPreparedMessageGroup> PrepareAsync(long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages, IReadOnlyList<KeyedCall?>? keys);
}

/// <summary>A group inserted but not committed; disposing it uncommitted rolls it back.</summary>
internal interface IPreparedMessageGroup : IAsyncDisposable
{
    /// <summary>
    /// Commits once the group ending at <paramref name="previousOffset"/> (if any) has; throws
    /// <see cref="PreviousGroupNotCommittedException"/> (nothing stored) when that group did not commit.
    /// </summary>
    Task CommitAsync(long? previousOffset);
}

internal sealed class StoreMessageGroupWriter(MessageStore store) : IMessageGroupWriter
{
    public Task<(long LastOffset, DateTime LastSent)> LoadTailAsync(long databaseId) => store.LoadMessageTailAsync(databaseId);

    public Task AppendAsync(long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages, IReadOnlyList<KeyedCall?>? keys) =>
        store.AppendMessagesAsync(databaseId, rows, logMessages, keys);

    public async Task<IPreparedMessageGroup> PrepareAsync(long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages, IReadOnlyList<KeyedCall?>? keys) =>
        new Prepared(await store.PrepareMessagesAsync(databaseId, rows, logMessages, keys));

    private sealed class Prepared(PreparedMessages prepared) : IPreparedMessageGroup
    {
        public Task CommitAsync(long? previousOffset) => prepared.CommitAsync(previousOffset);

        public ValueTask DisposeAsync() => prepared.DisposeAsync();
    }
}
