using Npgsql;

namespace Chat.Storage;

/// <summary>
/// How a message log's groups reach PostgreSQL. A group with nothing before it in flight is one autocommitted statement:
/// one round trip. A group that starts while others are still committing is chained (migration 0010): its rows are
/// inserted in a transaction left open, and its COMMIT goes out at once behind a wait, inside PostgreSQL, for the group
/// before; so several groups' commits are flushed to disk together, and a group still commits only if the one before did.
/// </summary>
public sealed partial class ChatStore
{
    /// <summary>The SQLSTATE <c>chat.follow_group</c> raises when the group before did not commit.</summary>
    private const string PreviousGroupMissing = "CG001";

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
        catch (Exception e) when (IsLostConnection(e))
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
        catch (PostgresException e) when (e.SqlState == UniqueViolation && e.ConstraintName == ReducerCallKey)
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
        catch (PostgresException e) when (e.SqlState == UniqueViolation && e.ConstraintName == ReducerCallKey)
        {
            throw new IdempotencyKeyTakenException();
        }
    }

    private static bool IsLostConnection(Exception e) =>
        e is not DatabaseGoneException and not IdempotencyKeyTakenException and not PostgresException
        && e is NpgsqlException or IOException or TimeoutException or ObjectDisposedException;

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

    /// <summary>Messages inserted but not committed yet; see <see cref="PrepareMessagesAsync"/>.</summary>
    public sealed class PreparedMessages : IAsyncDisposable
    {
        private readonly NpgsqlConnection _connection;
        private readonly long _databaseId;
        private readonly NpgsqlTransaction _transaction;
        private bool _done;

        internal PreparedMessages(NpgsqlConnection connection, long databaseId, NpgsqlTransaction transaction) =>
            (_connection, _databaseId, _transaction) = (connection, databaseId, transaction);

        /// <summary>
        /// Makes the messages durable, once the group ending at <paramref name="previousOffset"/> (if any) has committed:
        /// the wait happens inside PostgreSQL, so this can be called before that group's commit is acknowledged. Throws
        /// <see cref="PreviousGroupNotCommittedException"/> (nothing stored) if that group did not commit, and
        /// <see cref="CommitOutcomeUnknownException"/> if the connection broke after the COMMIT went out.
        /// </summary>
        public async Task CommitAsync(long? previousOffset = null)
        {
            await using var batch = new NpgsqlBatch(_connection);
            if (previousOffset is { } offset)
            {
                var follow = new NpgsqlBatchCommand("SELECT chat.follow_group($1, $2)");
                follow.Parameters.Add(new NpgsqlParameter { Value = _databaseId });
                follow.Parameters.Add(new NpgsqlParameter { Value = offset });
                batch.BatchCommands.Add(follow);
            }
            batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
            try
            {
                // A failed follow skips the COMMIT behind it (one Sync for the batch); the dispose rolls back.
                await batch.ExecuteNonQueryAsync();
                _done = true;
            }
            catch (PostgresException e) when (e.SqlState == PreviousGroupMissing)
            {
                throw new PreviousGroupNotCommittedException(e);
            }
            catch (Exception e) when (IsLostConnection(e))
            {
                _done = true;
                // The commit was sent: PostgreSQL may have made it durable before the connection broke.
                throw new CommitOutcomeUnknownException(e);
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (!_done) await _transaction.RollbackAsync();
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or IOException)
            {
                // The connection broke: the server rolls the transaction back itself.
            }
            finally
            {
                await _transaction.DisposeAsync();
                await _connection.DisposeAsync();
            }
        }
    }
}
