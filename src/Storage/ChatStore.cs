using Npgsql;
using NpgsqlTypes;

namespace Chat.Storage;

/// <summary>
/// Reads and writes of the chat tables, always parameterised. Grains own the decisions; this class
/// only knows the SQL. Every call is its own transaction.
/// </summary>
public sealed class ChatStore(NpgsqlDataSource dataSource)
{
    /// <summary>The PostgreSQL error code for a unique violation.</summary>
    private const string UniqueViolation = "23505";
    private const string ForeignKeyViolation = "23503";

    // ---- databases -------------------------------------------------------------------------

    /// <summary>Inserts the catalog row, or returns the one already there under that name.</summary>
    public async Task<(long Id, Identity Owner, DateTime CreatedAt)> CreateDatabaseAsync(string name, Identity owner, DateTime createdAt)
    {
        await using var command = dataSource.CreateCommand("""
            WITH inserted AS (
                INSERT INTO chat.database (name, owner, created_at) VALUES (@name, @owner, @created_at)
                ON CONFLICT (name) DO NOTHING
                RETURNING id, owner, created_at)
            SELECT id, owner, created_at FROM inserted
            UNION ALL
            SELECT id, owner, created_at FROM chat.database WHERE name = @name
            LIMIT 1
            """);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("owner", owner.ToBytes());
        command.Parameters.AddWithValue("created_at", createdAt);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), Identity.FromBytes((byte[])reader[1]), reader.GetDateTime(2));
    }

    /// <summary>Deletes the database's catalog row and, by cascade, all its users and messages.</summary>
    public async Task DeleteDatabaseAsync(long id)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM chat.database WHERE id = @id");
        command.Parameters.AddWithValue("id", id);
        await command.ExecuteNonQueryAsync();
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

    public async Task<UserRow?> LoadUserAsync(long databaseId, Identity identity)
    {
        await using var command = dataSource.CreateCommand(
            """SELECT name, online FROM chat."user" WHERE database_id = @database_id AND identity = @identity""");
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("identity", identity.ToBytes());
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
            return null;
        return new UserRow(identity, reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetBoolean(1));
    }

    /// <summary>
    /// Sets the user's name. Returns false when <paramref name="uniqueNameKey"/> is already held by another user
    /// of the database; throws <see cref="DatabaseGoneException"/> when the row (or its database) is gone.
    /// </summary>
    public async Task<bool> SaveNameAsync(long databaseId, Identity identity, string name, string? uniqueNameKey)
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE chat."user" SET name = @name, name_key = @name_key
            WHERE database_id = @database_id AND identity = @identity
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("identity", identity.ToBytes());
        command.Parameters.AddWithValue("name", name);
        command.Parameters.Add(new NpgsqlParameter<string?>("name_key", NpgsqlDbType.Text) { TypedValue = uniqueNameKey });
        try
        {
            if (await command.ExecuteNonQueryAsync() == 0)
                throw new DatabaseGoneException();
            return true;
        }
        catch (PostgresException e) when (e.SqlState == UniqueViolation && e.ConstraintName == "user_unique_name")
        {
            return false;
        }
    }

    /// <summary>Inserts the user (no name) with the given online flag, or sets the flag of the existing row.</summary>
    public async Task SaveOnlineAsync(long databaseId, Identity identity, bool online)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO chat."user" (database_id, identity, name, online) VALUES (@database_id, @identity, NULL, @online)
            ON CONFLICT (database_id, identity) DO UPDATE SET online = EXCLUDED.online
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("identity", identity.ToBytes());
        command.Parameters.AddWithValue("online", online);
        try
        {
            await command.ExecuteNonQueryAsync();
        }
        catch (PostgresException e) when (e.SqlState == ForeignKeyViolation)
        {
            throw new DatabaseGoneException();
        }
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

    /// <summary>Inserts a group of messages as one statement, hence one transaction: all or none.</summary>
    public async Task AppendMessagesAsync(long databaseId, IReadOnlyList<MessageRow> rows)
    {
        var offsets = new long[rows.Count];
        var senders = new byte[rows.Count][];
        var sent = new DateTime[rows.Count];
        var texts = new string[rows.Count];
        for (var i = 0; i < rows.Count; i++)
            (offsets[i], senders[i], sent[i], texts[i]) = (rows[i].Offset, rows[i].Sender.ToBytes(), rows[i].Sent, rows[i].Text);

        await using var command = dataSource.CreateCommand("""
            INSERT INTO chat.message (database_id, "offset", sender, sent, text)
            SELECT @database_id, m.* FROM unnest(@offsets, @senders, @sent, @texts) AS m
            """);
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("offsets", offsets);
        command.Parameters.AddWithValue("senders", senders);
        command.Parameters.AddWithValue("sent", sent);
        command.Parameters.AddWithValue("texts", texts);
        try
        {
            await command.ExecuteNonQueryAsync();
        }
        catch (PostgresException e) when (e.SqlState == ForeignKeyViolation)
        {
            throw new DatabaseGoneException();
        }
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

/// <summary>The database was deleted while a write for it was under way.</summary>
public sealed class DatabaseGoneException() : Exception("The database was deleted.");
