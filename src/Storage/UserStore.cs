using Npgsql;
using NpgsqlTypes;

namespace Chat.Storage;

/// <summary>
/// The users of each database and their live connections (<c>chat.user</c>, <c>chat.connection</c>): connects,
/// disconnects, names (with the set_name call's idempotency record), expiry of anonymous users, and the snapshot a
/// subscriber starts from.
/// </summary>
public sealed class UserStore(NpgsqlDataSource dataSource)
{
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
        catch (PostgresException e) when (PostgresErrors.IsNameTaken(e))
        {
            return null;
        }
        catch (PostgresException e) when (PostgresErrors.IsReducerCallKeyTaken(e))
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
        catch (PostgresException e) when (PostgresErrors.IsNameTaken(e))
        {
            return false;
        }
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
        catch (PostgresException e) when (e.SqlState == PostgresErrors.ForeignKeyViolation)
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
}
