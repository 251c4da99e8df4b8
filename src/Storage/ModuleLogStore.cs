using Npgsql;
using NpgsqlTypes;

namespace Chat.Storage;

/// <summary>The module log of each database (<c>chat.log</c>), the records <c>spacetime logs</c> shows.</summary>
public sealed class ModuleLogStore(NpgsqlDataSource dataSource)
{
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
}
