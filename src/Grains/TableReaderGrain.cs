using Chat.Sql;
using Chat.Storage;
using Orleans.Concurrency;

namespace Chat.Grains;

[StatelessWorker]
public sealed class TableReaderGrain(UserStore userStore, MessageStore messageStore, DatabaseDescriptorCache descriptors) : Grain, ITableReaderGrain
{
    public async Task<DatabaseSnapshot?> LoadSnapshot(string database)
    {
        if (await descriptors.Get(database) is not { } descriptor)
            return null;
        var (users, lastOffset) = await userStore.LoadSnapshotAsync(descriptor.Id);
        return new DatabaseSnapshot(descriptor.Id, users.Select(u => new VersionedUser(u.Row, u.Version)).ToList(), lastOffset);
    }

    public Task<IReadOnlyList<MessageRow>> ReadMessages(long databaseId, string subscriptionQuery, Identity subscriber, long afterOffset, long uptoOffset, int limit)
    {
        var statement = Translate(databaseId, subscriptionQuery, subscriber);
        return messageStore.ReadMessageRangeAsync(statement.Sql, statement.Parameters, afterOffset, uptoOffset, Math.Clamp(limit, 1, 10_000));
    }

    public Task<IReadOnlyList<Identity>> ReadSenders(long databaseId, string subscriptionQuery, Identity subscriber, long afterOffset, long uptoOffset, int limit)
    {
        var statement = Translate(databaseId, subscriptionQuery, subscriber);
        return messageStore.ReadSenderRangeAsync(statement.Sql, statement.Parameters, afterOffset, uptoOffset, Math.Clamp(limit, 1, 1_000_000));
    }

    private static PostgresStatement Translate(long databaseId, string subscriptionQuery, Identity subscriber) =>
        PostgresTranslator.Translate(SqlQuery.ParseSubscription(subscriptionQuery), databaseId, subscriber);
}
