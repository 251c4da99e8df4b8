using Chat.Sql;
using Chat.Storage;
using Npgsql;
using Orleans.Concurrency;

namespace Chat.Grains;

[StatelessWorker]
public sealed class TableReaderGrain(ChatStore store, DatabaseDescriptorCache descriptors, NpgsqlDataSource dataSource) : Grain, ITableReaderGrain
{
    public async Task<DatabaseSnapshot?> LoadSnapshot(string database)
    {
        if (await descriptors.Get(database) is not { } descriptor)
            return null;
        var (users, lastOffset) = await store.LoadSnapshotAsync(descriptor.Id);
        return new DatabaseSnapshot(descriptor.Id, users.Select(u => new VersionedUser(u.Row, u.Version)).ToList(), lastOffset);
    }

    public async Task<IReadOnlyList<MessageRow>> ReadMessages(long databaseId, string subscriptionQuery, Identity subscriber, long afterOffset, long uptoOffset, int limit)
    {
        await using var command = RangeCommand(databaseId, subscriptionQuery, subscriber, """q.sender, q.sent, q.text, q."offset" """,
            """q."offset" """, afterOffset, uptoOffset, Math.Clamp(limit, 1, 10_000));
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<MessageRow>();
        while (await reader.ReadAsync())
            rows.Add(new MessageRow(reader.GetInt64(3), Identity.FromBytes((byte[])reader[0]), reader.GetDateTime(1), reader.GetString(2)));
        return rows;
    }

    public async Task<IReadOnlyList<Identity>> ReadSenders(long databaseId, string subscriptionQuery, Identity subscriber, long afterOffset, long uptoOffset, int limit)
    {
        await using var command = RangeCommand(databaseId, subscriptionQuery, subscriber, "DISTINCT q.sender", "q.sender",
            afterOffset, uptoOffset, Math.Clamp(limit, 1, 1_000_000));
        await using var reader = await command.ExecuteReaderAsync();
        var senders = new List<Identity>();
        while (await reader.ReadAsync())
            senders.Add(Identity.FromBytes((byte[])reader[0]));
        return senders;
    }

    /// <summary>
    /// The subscription query translated (ours, parameterised) and wrapped to read one offset range at a time, by the
    /// primary key: <paramref name="columns"/> of its rows in (<paramref name="afterOffset"/>, <paramref name="uptoOffset"/>].
    /// </summary>
    private NpgsqlCommand RangeCommand(long databaseId, string subscriptionQuery, Identity subscriber, string columns, string orderBy,
        long afterOffset, long uptoOffset, long limit)
    {
        var statement = PostgresTranslator.Translate(SqlQuery.ParseSubscription(subscriptionQuery), databaseId, subscriber);
        var command = dataSource.CreateCommand(
            $"""SELECT {columns} FROM ({statement.Sql}) AS q WHERE q."offset" > @range_after AND q."offset" <= @range_upto ORDER BY {orderBy} LIMIT @range_limit""");
        foreach (var parameter in statement.Parameters) command.Parameters.Add(parameter.Clone());
        command.Parameters.AddWithValue("range_after", afterOffset);
        command.Parameters.AddWithValue("range_upto", uptoOffset);
        command.Parameters.AddWithValue("range_limit", limit);
        return command;
    }
}
