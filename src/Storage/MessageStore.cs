using Npgsql;

namespace Chat.Storage;

/// <summary>
/// The messages of each database (<c>chat.message</c>): their group commits and their reads.
/// How a message log's groups reach PostgreSQL. A group with nothing before it in flight is one autocommitted statement:
/// one round trip. A group that starts while others are still committing is chained (migration 0010): its rows are
/// inserted in a transaction left open, and its COMMIT goes out at once behind a wait, inside PostgreSQL, for the group
/// before; so several groups' commits are flushed to disk together, and a group still commits only if the one before did.
/// </summary>
public sealed class MessageStore(NpgsqlDataSource dataSource)
{
    /// <summary>The last offset and timestamp, so that a (re)activated message log continues after them.</summary>
    public async Task<(long LastOffset, DateTime LastSent)> LoadMessageTailAsync(long databaseId)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT "offset", sent FROM chat.message WHERE database_id = @database_id ORDER BY "offset" DESC LIMIT 1
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync()
            ? (reader.GetInt64(0), reader.GetDateTime(1))
            : (0, DateTime.MinValue);
    }

    /// <summary>
    /// A subscription's messages with offsets in (<paramref name="afterOffset"/>, <paramref name="uptoOffset"/>], by offset.
    /// <paramref name="subscriptionSql"/> is the subscriber's query already translated to PostgreSQL (ours, parameterised
    /// by <paramref name="parameters"/>); it is wrapped so that each range is read by the primary key.
    /// </summary>
    public async Task<IReadOnlyList<MessageRow>> ReadMessageRangeAsync(string subscriptionSql, IReadOnlyList<NpgsqlParameter> parameters,
        long afterOffset, long uptoOffset, long limit)
    {
        await using var command = RangeCommand(subscriptionSql, parameters, """q.sender, q.sent, q.text, q."offset" """, """q."offset" """,
            afterOffset, uptoOffset, limit);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<MessageRow>();
        while (await reader.ReadAsync())
            rows.Add(new MessageRow(reader.GetInt64(3), Identity.FromBytes((byte[])reader[0]), reader.GetDateTime(1), reader.GetString(2)));
        return rows;
    }

    /// <summary>The distinct senders of a subscription's messages in an offset range; see <see cref="ReadMessageRangeAsync"/>.</summary>
    public async Task<IReadOnlyList<Identity>> ReadSenderRangeAsync(string subscriptionSql, IReadOnlyList<NpgsqlParameter> parameters,
        long afterOffset, long uptoOffset, long limit)
    {
        await using var command = RangeCommand(subscriptionSql, parameters, "DISTINCT q.sender", "q.sender", afterOffset, uptoOffset, limit);
        await using var reader = await command.ExecuteReaderAsync();
        var senders = new List<Identity>();
        while (await reader.ReadAsync())
            senders.Add(Identity.FromBytes((byte[])reader[0]));
        return senders;
    }

    private NpgsqlCommand RangeCommand(string subscriptionSql, IReadOnlyList<NpgsqlParameter> parameters, string columns, string orderBy,
        long afterOffset, long uptoOffset, long limit)
    {
        var command = dataSource.CreateCommand(
            $"""SELECT {columns} FROM ({subscriptionSql}) AS q WHERE q."offset" > @range_after AND q."offset" <= @range_upto ORDER BY {orderBy} LIMIT @range_limit""");
        foreach (var parameter in parameters) command.Parameters.Add(parameter.Clone());
        command.Parameters.AddWithValue("range_after", afterOffset);
        command.Parameters.AddWithValue("range_upto", uptoOffset);
        command.Parameters.AddWithValue("range_limit", limit);
        return command;
    }

    /// <summary>
    /// Inserts and commits a group in one round trip (one statement, hence one transaction: all or none). For a group
    /// with no earlier group uncommitted; a later group may start once this returns.
    /// </summary>
    /// <remarks><paramref name="keys"/>, when given, holds each row's idempotency key (or null), recorded with the rows.</remarks>
    public async Task AppendMessagesAsync(long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages, IReadOnlyList<KeyedCall?>? keys = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var insert = MessageInsert(connection, databaseId, rows, logMessages, keys, holdGroupLock: false);
        try
        {
            await InsertGroupAsync(insert);
        }
        catch (Exception e) when (PostgresErrors.IsLostConnection(e))
        {
            // Autocommitted: PostgreSQL may have committed it before the connection broke.
            throw new CommitOutcomeUnknownException(e);
        }
    }

    /// <summary>
    /// Gets a group ready to commit behind the group ending at offset <c>previousOffset</c> (given to
    /// <see cref="PreparedMessages.CommitAsync"/>): the rows are inserted now, in a transaction left open, holding the lock
    /// the next group's commit waits for. Disposing an uncommitted one rolls it back. Inserting before the next group's
    /// insert starts also keeps the log records' ids in commit order, which is what lets a follower read "after id N"
    /// without skipping any.
    /// </summary>
    public async Task<PreparedMessages> PrepareMessagesAsync(long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages,
        IReadOnlyList<KeyedCall?>? keys = null)
    {
        var connection = await dataSource.OpenConnectionAsync();
        PreparedMessages? prepared = null;
        try
        {
            // Npgsql sends BEGIN with the insert: one round trip.
            prepared = new PreparedMessages(connection, databaseId, await connection.BeginTransactionAsync());
            await using var insert = MessageInsert(connection, databaseId, rows, logMessages, keys, holdGroupLock: true);
            await InsertGroupAsync(insert);
            return prepared;
        }
        catch (PostgresException e) when (PostgresErrors.IsReducerCallKeyTaken(e))
        {
            await DisposeAsync(prepared, connection);
            throw new IdempotencyKeyTakenException();
        }
        catch
        {
            await DisposeAsync(prepared, connection);
            throw;
        }
    }

    private static async Task DisposeAsync(PreparedMessages? prepared, NpgsqlConnection connection)
    {
        if (prepared is not null) await prepared.DisposeAsync();
        else await connection.DisposeAsync();
    }

    private static async Task InsertGroupAsync(NpgsqlCommand insert)
    {
        try
        {
            if ((long)(await insert.ExecuteScalarAsync())! == 0)
                throw new DatabaseGoneException();
        }
        catch (PostgresException e) when (PostgresErrors.IsReducerCallKeyTaken(e))
        {
            throw new IdempotencyKeyTakenException();
        }
    }

    /// <summary>
    /// The messages, when <paramref name="holdGroupLock"/> the chained group's lock (held until its transaction ends),
    /// when <paramref name="logMessages"/> their texts in the module log at info level (the seed's
    /// <c>log::info!</c>), and their idempotency keys, as one statement. One existence check for the whole group (see
    /// migration 0007): no row is written for a database that is gone, and the count it returns is then 0.
    /// </summary>
    private static NpgsqlCommand MessageInsert(NpgsqlConnection connection, long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages,
        IReadOnlyList<KeyedCall?>? keys, bool holdGroupLock)
    {
        var offsets = new long[rows.Count];
        var senders = new byte[rows.Count][];
        var sent = new DateTime[rows.Count];
        var texts = new string[rows.Count];
        for (var i = 0; i < rows.Count; i++)
            (offsets[i], senders[i], sent[i], texts[i]) = (rows[i].Offset, rows[i].Sender.ToBytes(), rows[i].Sent, rows[i].Text);
        var keyed = keys is null ? [] : Enumerable.Range(0, rows.Count).Where(i => keys[i] is not null).ToArray();

        var command = new NpgsqlCommand("""
            WITH held AS MATERIALIZED (
                SELECT pg_advisory_xact_lock(chat.group_lock_database(@database_id), chat.group_lock_offset(@last_offset)) WHERE @hold),
            db AS (SELECT id FROM chat.database WHERE id = @database_id AND (NOT @hold OR EXISTS (SELECT FROM held)) FOR KEY SHARE),
            inserted AS (
                INSERT INTO chat.message (database_id, "offset", sender, sent, text)
                SELECT db.id, m.* FROM db, unnest(@offsets, @senders, @sent, @texts) AS m
                RETURNING sent, text),
            logged AS (
                INSERT INTO chat.log (database_id, at, level, reducer, message)
                SELECT @database_id, sent, @info, 'send_message', replace(replace(text, E'\n', '\n'), E'\t', '\t')
                FROM inserted WHERE @log ORDER BY sent),
            recorded AS (
                INSERT INTO chat.reducer_call (database_id, identity, key, reducer, fingerprint, at, message_offset)
                SELECT db.id, k.identity, k.key, 'send_message', k.fingerprint, k.at, k."offset"
                FROM db, unnest(@key_identities, @keys, @key_fingerprints, @key_at, @key_offsets) AS k(identity, key, fingerprint, at, "offset"))
            SELECT count(*) FROM inserted
            """, connection);
        command.Parameters.AddWithValue("key_identities", keyed.Select(i => senders[i]).ToArray());
        command.Parameters.AddWithValue("keys", keyed.Select(i => keys![i]!.Key).ToArray());
        command.Parameters.AddWithValue("key_fingerprints", keyed.Select(i => keys![i]!.Fingerprint).ToArray());
        command.Parameters.AddWithValue("key_at", keyed.Select(i => sent[i]).ToArray());
        command.Parameters.AddWithValue("key_offsets", keyed.Select(i => offsets[i]).ToArray());
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("offsets", offsets);
        command.Parameters.AddWithValue("senders", senders);
        command.Parameters.AddWithValue("sent", sent);
        command.Parameters.AddWithValue("texts", texts);
        command.Parameters.AddWithValue("info", (short)ModuleLogLevel.Info);
        command.Parameters.AddWithValue("log", logMessages);
        command.Parameters.AddWithValue("hold", holdGroupLock);
        command.Parameters.AddWithValue("last_offset", offsets[^1]);
        return command;
    }
}
