using Npgsql;
using NpgsqlTypes;

namespace Chat.Storage;

/// <summary>
/// Reads and writes of the chat tables, always parameterised. Grains own the decisions; this class
/// only knows the SQL. Message groups are written by <c>ChatStore.MessageGroups.cs</c>.
/// </summary>
public sealed partial class ChatStore(NpgsqlDataSource dataSource)
{
    /// <summary>The PostgreSQL error code for a unique violation.</summary>
    private const string UniqueViolation = "23505";
    private const string ForeignKeyViolation = "23503";

    // ---- databases -------------------------------------------------------------------------

    /// <summary>Inserts the catalog row (with the default settings unless given), or returns the one already there under that name.</summary>
    public async Task<(long Id, Identity Owner, DateTime CreatedAt)> CreateDatabaseAsync(string name, Identity owner, DateTime createdAt, ModuleSettings? settings = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await InsertDatabaseAsync(connection, null, name, owner, createdAt, settings ?? ModuleSettings.Default);
    }

    /// <summary>
    /// A published database cleared: the old catalog row and everything under it deleted and a new row inserted, in one
    /// transaction, so that no failure leaves the name without a catalog row or with half of its old rows.
    /// </summary>
    public async Task<(long Id, Identity Owner, DateTime CreatedAt)> ReplaceDatabaseAsync(long oldId, string name, Identity owner, DateTime createdAt, ModuleSettings? settings = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await DeleteDatabaseRowsAsync(connection, transaction, oldId);
        var created = await InsertDatabaseAsync(connection, transaction, name, owner, createdAt, settings ?? ModuleSettings.Default);
        await transaction.CommitAsync();
        return created;
    }

    private static async Task<(long Id, Identity Owner, DateTime CreatedAt)> InsertDatabaseAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, Identity owner, DateTime createdAt, ModuleSettings settings)
    {
        await using var command = new NpgsqlCommand("""
            WITH inserted AS (
                INSERT INTO chat.database (name, owner, created_at, settings) VALUES (@name, @owner, @created_at, @settings)
                ON CONFLICT (name) DO NOTHING
                RETURNING id, owner, created_at)
            SELECT id, owner, created_at FROM inserted
            UNION ALL
            SELECT id, owner, created_at FROM chat.database WHERE name = @name
            LIMIT 1
            """, connection, transaction);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("owner", owner.ToBytes());
        command.Parameters.AddWithValue("created_at", createdAt);
        command.Parameters.Add(SettingsParameter(settings));
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), Identity.FromBytes((byte[])reader[1]), reader.GetDateTime(2));
    }

    /// <summary>The catalog row of the database named <paramref name="name"/>, or null.</summary>
    public async Task<(long Id, Identity Owner, DateTime CreatedAt)?> FindDatabaseAsync(string name)
    {
        await using var command = dataSource.CreateCommand("SELECT id, owner, created_at FROM chat.database WHERE name = @name");
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync() ? (reader.GetInt64(0), Identity.FromBytes((byte[])reader[1]), reader.GetDateTime(2)) : null;
    }

    /// <summary>
    /// Deletes the database's catalog row and, by cascade, its users and connections; then its messages and log records.
    /// The catalog row goes first: that waits for every write holding it (FOR KEY SHARE) to end, so the deletes after
    /// it, each with a fresh snapshot, see those rows, and any later write finds no database and stores nothing.
    /// </summary>
    public async Task DeleteDatabaseAsync(long id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await DeleteDatabaseRowsAsync(connection, transaction, id);
        await transaction.CommitAsync();
    }

    private static async Task DeleteDatabaseRowsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long id)
    {
        foreach (var sql in new[]
                 {
                     "DELETE FROM chat.database WHERE id = @id",
                     "DELETE FROM chat.message WHERE database_id = @id",
                     "DELETE FROM chat.log WHERE database_id = @id",
                     "DELETE FROM chat.reducer_call WHERE database_id = @id",
                 })
        {
            await using var command = new NpgsqlCommand(sql, connection, transaction);
            command.Parameters.AddWithValue("id", id);
            await command.ExecuteNonQueryAsync();
        }
    }

    public async Task<IReadOnlyList<(long Id, string Name, Identity Owner, DateTime CreatedAt)>> ListDatabasesAsync()
    {
        await using var command = dataSource.CreateCommand("SELECT id, name, owner, created_at FROM chat.database ORDER BY name");
        await using var reader = await command.ExecuteReaderAsync();
        var result = new List<(long, string, Identity, DateTime)>();
        while (await reader.ReadAsync())
            result.Add((reader.GetInt64(0), reader.GetString(1), Identity.FromBytes((byte[])reader[2]), reader.GetDateTime(3)));
        return result;
    }

    // ---- users -----------------------------------------------------------------------------

    /// <summary>The user's row, its version and its live connections, or null when the identity has no row in the database.</summary>
    public async Task<(UserRow Row, long Version, IReadOnlyList<ConnectionId> Connections)?> LoadUserAsync(long databaseId, Identity identity)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT u.name, u.online, u.version, c.id FROM chat."user" u
            LEFT JOIN chat.connection c ON c.database_id = u.database_id AND c.identity = u.identity
            WHERE u.database_id = @database_id AND u.identity = @identity
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("identity", identity.ToBytes());
        await using var reader = await command.ExecuteReaderAsync();
        UserRow? row = null;
        long version = 0;
        var connections = new List<ConnectionId>();
        while (await reader.ReadAsync())
        {
            row ??= new UserRow(identity, reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetBoolean(1));
            version = reader.GetInt64(2);
            if (!reader.IsDBNull(3)) connections.Add(new ConnectionId(reader.GetGuid(3)));
        }
        return row is null ? null : (row, version, connections);
    }

    /// <summary>
    /// One consistent snapshot of a database for a subscriber: every user row with its version, and the last
    /// message offset (messages themselves are read by offset, on demand).
    /// </summary>
    public async Task<(IReadOnlyList<(UserRow Row, long Version)> Users, long LastOffset)> LoadSnapshotAsync(long databaseId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        var users = new List<(UserRow, long)>();
        await using (var read = new NpgsqlCommand("""SELECT identity, name, online, version FROM chat."user" WHERE database_id = @database_id""", connection, transaction))
        {
            read.Parameters.AddWithValue("database_id", databaseId);
            await using var reader = await read.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                users.Add((new UserRow(Identity.FromBytes((byte[])reader[0]), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetBoolean(2)), reader.GetInt64(3)));
        }
        await using var tail = new NpgsqlCommand("""SELECT coalesce(max("offset"), 0) FROM chat.message WHERE database_id = @database_id""", connection, transaction);
        tail.Parameters.AddWithValue("database_id", databaseId);
        var lastOffset = (long)(await tail.ExecuteScalarAsync())!;
        await transaction.CommitAsync();
        return (users, lastOffset);
    }

    /// <summary>
    /// Sets the user's name, and records the call under its idempotency key when it has one, in one statement. Returns
    /// null when <paramref name="uniqueNameKey"/> is already held by another user of the database; throws
    /// <see cref="DatabaseGoneException"/> when the row (or its database) is gone, <see cref="IdempotencyKeyTakenException"/>
    /// when another call recorded the same key first.
    /// </summary>
    public async Task<long?> SaveNameAsync(long databaseId, Identity identity, string name, string? uniqueNameKey, KeyedCall? call = null)
    {
        await using var command = dataSource.CreateCommand("""
            WITH updated AS (
                UPDATE chat."user" SET name = @name, name_key = @name_key, version = nextval('chat.user_version')
                WHERE database_id = @database_id AND identity = @identity
                RETURNING version),
            recorded AS (
                INSERT INTO chat.reducer_call (database_id, identity, key, reducer, fingerprint, at)
                SELECT @database_id, @identity, @key, 'set_name', @fingerprint, @at FROM updated WHERE @key IS NOT NULL)
            SELECT version FROM updated
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("identity", identity.ToBytes());
        command.Parameters.AddWithValue("name", name);
        command.Parameters.Add(new NpgsqlParameter<string?>("name_key", NpgsqlDbType.Text) { TypedValue = uniqueNameKey });
        command.Parameters.Add(new NpgsqlParameter<string?>("key", NpgsqlDbType.Text) { TypedValue = call?.Key });
        command.Parameters.Add(new NpgsqlParameter<byte[]?>("fingerprint", NpgsqlDbType.Bytea) { TypedValue = call?.Fingerprint });
        command.Parameters.Add(new NpgsqlParameter<DateTime>("at", NpgsqlDbType.TimestampTz) { TypedValue = call?.At ?? DateTime.UnixEpoch });
        try
        {
            return await command.ExecuteScalarAsync() is long version ? version : throw new DatabaseGoneException();
        }
        catch (PostgresException e) when (e.SqlState == UniqueViolation && e.ConstraintName == "user_unique_name")
        {
            return null;
        }
        catch (PostgresException e) when (e.SqlState == UniqueViolation && e.ConstraintName == ReducerCallKey)
        {
            throw new IdempotencyKeyTakenException();
        }
    }

    /// <summary>Up to <paramref name="limit"/> named users whose uniqueness key was computed by older rules (it lacks <paramref name="version"/>).</summary>
    public async Task<List<(long DatabaseId, byte[] Identity, string Name, string Key)>> ReadOutdatedNameKeysAsync(string version, int limit)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT database_id, identity, name, name_key FROM chat."user"
            WHERE name_key IS NOT NULL AND name IS NOT NULL AND left(name_key, length(@version)) <> @version
            LIMIT @limit
            """);
        command.Parameters.AddWithValue("version", version);
        command.Parameters.AddWithValue("limit", limit);
        var rows = new List<(long, byte[], string, string)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows.Add((reader.GetInt64(0), (byte[])reader[1], reader.GetString(2), reader.GetString(3)));
        return rows;
    }

    /// <summary>
    /// Replaces one user's outdated uniqueness key, unless the user was renamed meanwhile (then set_name wrote a current
    /// key). False when another user of the database already holds <paramref name="key"/>.
    /// </summary>
    public async Task<bool> ReplaceNameKeyAsync(long databaseId, byte[] identity, string name, string oldKey, string key)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE chat."user" SET name_key = @key
            WHERE database_id = @database_id AND identity = @identity AND name = @name AND name_key = @old_key
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("identity", identity);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("old_key", oldKey);
        command.Parameters.AddWithValue("key", key);
        try
        {
            await command.ExecuteNonQueryAsync();
            return true;
        }
        catch (PostgresException e) when (e.SqlState == UniqueViolation && e.ConstraintName == "user_unique_name")
        {
            return false;
        }
    }

    // ---- idempotency keys ------------------------------------------------------------------

    private const string ReducerCallKey = "reducer_call_pkey";

    /// <summary>The recorded calls among these (identity, key) pairs, with the message each send_message stored.</summary>
    public async Task<Dictionary<(Identity Identity, string Key), RecordedCall>> FindCallsAsync(long databaseId, IReadOnlyCollection<(Identity Identity, string Key)> calls)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT r.identity, r.key, r.reducer, r.fingerprint, r.at, m."offset", m.sender, m.sent, m.text
            FROM unnest(@identities, @keys) AS k(identity, key)
            JOIN chat.reducer_call r ON r.database_id = @database_id AND r.identity = k.identity AND r.key = k.key
            LEFT JOIN chat.message m ON m.database_id = r.database_id AND m."offset" = r.message_offset
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("identities", calls.Select(c => c.Identity.ToBytes()).ToArray());
        command.Parameters.AddWithValue("keys", calls.Select(c => c.Key).ToArray());
        await using var reader = await command.ExecuteReaderAsync();
        var found = new Dictionary<(Identity, string), RecordedCall>();
        while (await reader.ReadAsync())
        {
            var message = reader.IsDBNull(5) ? null
                : new MessageRow(reader.GetInt64(5), Identity.FromBytes((byte[])reader[6]), reader.GetDateTime(7), reader.GetString(8));
            found[(Identity.FromBytes((byte[])reader[0]), reader.GetString(1))] =
                new RecordedCall(reader.GetString(2), (byte[])reader[3], reader.GetDateTime(4), message);
        }
        return found;
    }

    /// <summary>Forgets keys recorded longer ago than <paramref name="retention"/>, a bounded batch at a time; returns how many.</summary>
    public async Task<int> PruneReducerCallsAsync(TimeSpan retention, int batch)
    {
        await using var command = dataSource.CreateCommand("""
            DELETE FROM chat.reducer_call WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM chat.reducer_call WHERE recorded_at < now() - @retention LIMIT @batch))
            """);
        command.Parameters.AddWithValue("retention", retention);
        command.Parameters.AddWithValue("batch", batch);
        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// identity_connected: inserts the user or marks it online, and records the connection; one statement (hence one
    /// transaction and one round trip). Returns the row's new version.
    /// </summary>
    public Task<long> SaveConnectedAsync(long databaseId, Identity identity, ConnectionId connection, Guid gatewayId) =>
        UserWriteAsync("""
            WITH saved AS (
                INSERT INTO chat."user" (database_id, identity, name, online, version, last_seen) VALUES (@database_id, @identity, NULL, true, nextval('chat.user_version'), now())
                ON CONFLICT (database_id, identity) DO UPDATE SET online = true, version = EXCLUDED.version, last_seen = now()
                RETURNING version),
            live AS (
                INSERT INTO chat.connection (database_id, identity, id, gateway_id, connected_at)
                SELECT @database_id, @identity, @id, @gateway_id, now() FROM saved
                ON CONFLICT DO NOTHING)
            SELECT version FROM saved
            """, databaseId, identity, ("id", connection.Value), ("gateway_id", gatewayId));

    /// <summary>
    /// identity_disconnected: forgets the connection and sets the online flag; one statement. Returns the row's new version.
    /// </summary>
    public Task<long> SaveDisconnectedAsync(long databaseId, Identity identity, ConnectionId connection, bool online) =>
        UserWriteAsync("""
            WITH gone AS (
                DELETE FROM chat.connection WHERE database_id = @database_id AND identity = @identity AND id = @id)
            UPDATE chat."user" SET online = @online, version = nextval('chat.user_version'), last_seen = now()
            WHERE database_id = @database_id AND identity = @identity
            RETURNING version
            """, databaseId, identity, ("id", connection.Value), ("online", online));

    /// <summary>A user write returning the row's new version; no row (or a foreign key gone) means the database was deleted.</summary>
    private async Task<long> UserWriteAsync(string sql, long databaseId, Identity identity, params (string Name, object Value)[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        AddUserKey(command, databaseId, identity);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        try
        {
            return await command.ExecuteScalarAsync() is long version ? version : throw new DatabaseGoneException();
        }
        catch (PostgresException e) when (e.SqlState == ForeignKeyViolation)
        {
            throw new DatabaseGoneException();
        }
    }

    /// <summary>
    /// Deletes up to <paramref name="batch"/> users that never set a name, are offline (no live connection), have sent no
    /// message and were last seen longer ago than <paramref name="retention"/>. Returns each deleted row's database (id and
    /// name), identity and a new version from the users' sequence, so that the deletion orders after every earlier write of
    /// the row for the change feed's readers. Rows being written meanwhile are skipped (SKIP LOCKED), and a connect that
    /// waited for the delete inserts the row anew.
    /// </summary>
    public async Task<IReadOnlyList<(long DatabaseId, string Database, Identity Identity, long Version)>> ExpireUsersAsync(TimeSpan retention, int batch)
    {
        await using var command = dataSource.CreateCommand("""
            WITH doomed AS (
                SELECT u.database_id, u.identity FROM chat."user" u
                WHERE u.name IS NULL AND NOT u.online AND u.last_seen < now() - @retention
                  AND NOT EXISTS (SELECT 1 FROM chat.connection c WHERE c.database_id = u.database_id AND c.identity = u.identity)
                  AND NOT EXISTS (SELECT 1 FROM chat.message m WHERE m.database_id = u.database_id AND m.sender = u.identity)
                LIMIT @batch
                FOR UPDATE OF u SKIP LOCKED)
            DELETE FROM chat."user" u USING doomed d, chat.database db
            WHERE u.database_id = d.database_id AND u.identity = d.identity AND db.id = u.database_id
            RETURNING u.database_id, db.name, u.identity, nextval('chat.user_version')
            """);
        command.Parameters.AddWithValue("retention", retention);
        command.Parameters.AddWithValue("batch", batch);
        await using var reader = await command.ExecuteReaderAsync();
        var deleted = new List<(long, string, Identity, long)>();
        while (await reader.ReadAsync())
            deleted.Add((reader.GetInt64(0), reader.GetString(1), Identity.FromBytes((byte[])reader[2]), reader.GetInt64(3)));
        return deleted;
    }

    private static void AddUserKey(NpgsqlCommand command, long databaseId, Identity identity)
    {
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("identity", identity.ToBytes());
    }

    // ---- module logs -----------------------------------------------------------------------

    public async Task AppendLogAsync(long databaseId, IReadOnlyList<(DateTime At, ModuleLogLevel Level, string? Reducer, string Message)> records)
    {
        await using var command = dataSource.CreateCommand("""
            WITH db AS (SELECT id FROM chat.database WHERE id = @database_id FOR KEY SHARE)
            INSERT INTO chat.log (database_id, at, level, reducer, message)
            SELECT db.id, r.* FROM db, unnest(@at, @level, @reducer, @message) AS r
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("at", records.Select(r => r.At).ToArray());
        command.Parameters.AddWithValue("level", records.Select(r => (short)r.Level).ToArray());
        command.Parameters.Add(new NpgsqlParameter("reducer", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = records.Select(r => (object?)r.Reducer ?? DBNull.Value).ToArray() });
        command.Parameters.AddWithValue("message", records.Select(r => r.Message).ToArray());
        if (await command.ExecuteNonQueryAsync() == 0 && records.Count > 0)
            throw new DatabaseGoneException();
    }

    /// <summary>The id just before the newest <paramref name="count"/> records at or above <paramref name="minimum"/>, or 0 when there are fewer.</summary>
    public async Task<long> LogIdBeforeNewestAsync(long databaseId, int count, ModuleLogLevel minimum)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT id - 1 FROM chat.log WHERE database_id = @database_id AND level >= @minimum
            ORDER BY id DESC OFFSET @skip LIMIT 1
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("minimum", (short)minimum);
        command.Parameters.AddWithValue("skip", (long)count - 1);
        return await command.ExecuteScalarAsync() is long id ? id : 0;
    }

    public Task<IReadOnlyList<ModuleLogRecord>> ReadLogAfterAsync(long databaseId, long afterId, ModuleLogLevel minimum, int limit) => ReadLogAsync("""
        SELECT id, at, level, reducer, message FROM chat.log
        WHERE database_id = @database_id AND level >= @minimum AND id > @after ORDER BY id LIMIT @limit
        """, databaseId, minimum, ("after", afterId), ("limit", (long)limit));

    private async Task<IReadOnlyList<ModuleLogRecord>> ReadLogAsync(string sql, long databaseId, ModuleLogLevel minimum, params (string Name, long Value)[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("minimum", (short)minimum);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        await using var reader = await command.ExecuteReaderAsync();
        var records = new List<ModuleLogRecord>();
        while (await reader.ReadAsync())
            records.Add(new ModuleLogRecord(reader.GetInt64(0), reader.GetDateTime(1), (ModuleLogLevel)reader.GetInt16(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4)));
        return records;
    }

    /// <summary>Keeps the newest <paramref name="keep"/> records. Deletes only old rows, so it never waits on writers of new ones.</summary>
    public async Task PruneLogAsync(long databaseId, int keep)
    {
        await using var command = dataSource.CreateCommand("""
            DELETE FROM chat.log WHERE database_id = @database_id AND id <= (
                SELECT id FROM chat.log WHERE database_id = @database_id ORDER BY id DESC OFFSET @keep LIMIT 1)
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("keep", (long)keep);
        await command.ExecuteNonQueryAsync();
    }

    // ---- gateways --------------------------------------------------------------------------

    /// <summary>A gateway says it is alive; its connections are safe from the janitor while it keeps saying so.</summary>
    public async Task TouchGatewayAsync(Guid gatewayId)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO chat.gateway (id, started_at, last_seen) VALUES (@id, now(), now())
            ON CONFLICT (id) DO UPDATE SET last_seen = now()
            """);
        command.Parameters.AddWithValue("id", gatewayId);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>A gateway that shut down cleanly (all its connections ended) leaves the table.</summary>
    public async Task RemoveGatewayAsync(Guid gatewayId)
    {
        await using var command = dataSource.CreateCommand("""
            DELETE FROM chat.gateway g WHERE id = @id AND NOT EXISTS (SELECT 1 FROM chat.connection c WHERE c.gateway_id = g.id)
            """);
        command.Parameters.AddWithValue("id", gatewayId);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Connections held by gateways not seen for <paramref name="silence"/> (or by no known gateway at all,
    /// after the same grace period), with the database name so the right user grain can be called.
    /// </summary>
    public async Task<IReadOnlyList<(string Database, Identity Identity, ConnectionId Connection)>> FindOrphanedConnectionsAsync(TimeSpan silence, int limit)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT d.name, c.identity, c.id FROM chat.connection c
            JOIN chat.database d ON d.id = c.database_id
            LEFT JOIN chat.gateway g ON g.id = c.gateway_id
            WHERE COALESCE(g.last_seen, c.connected_at) < now() - @silence
            LIMIT @limit
            """);
        command.Parameters.AddWithValue("silence", silence);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync();
        var result = new List<(string, Identity, ConnectionId)>();
        while (await reader.ReadAsync())
            result.Add((reader.GetString(0), Identity.FromBytes((byte[])reader[1]), new ConnectionId(reader.GetGuid(2))));
        return result;
    }

    /// <summary>Forgets gateways that have been silent for long and hold no connections any more.</summary>
    public async Task ForgetSilentGatewaysAsync(TimeSpan silence)
    {
        await using var command = dataSource.CreateCommand("""
            DELETE FROM chat.gateway g WHERE last_seen < now() - @silence
            AND NOT EXISTS (SELECT 1 FROM chat.connection c WHERE c.gateway_id = g.id)
            """);
        command.Parameters.AddWithValue("silence", silence);
        await command.ExecuteNonQueryAsync();
    }

    // ---- messages --------------------------------------------------------------------------

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

    public async Task<IReadOnlyList<MessageRow>> ReadMessagesAsync(long databaseId, long afterOffset, int limit)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT "offset", sender, sent, text FROM chat.message
            WHERE database_id = @database_id AND "offset" > @after
            ORDER BY "offset" LIMIT @limit
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("after", afterOffset);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<MessageRow>();
        while (await reader.ReadAsync())
            rows.Add(new MessageRow(reader.GetInt64(0), Identity.FromBytes((byte[])reader[1]), reader.GetDateTime(2), reader.GetString(3)));
        return rows;
    }
}

