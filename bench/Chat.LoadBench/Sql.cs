using Npgsql;

namespace Chat.LoadBench;

/// <summary>Reading back what the stack and the baseline stored.</summary>
public static class Sql
{
    public static async Task<(long Rows, long DistinctTexts)> CountBaseline(NpgsqlDataSource db, long databaseId)
    {
        await using var command = db.CreateCommand("SELECT count(*), count(DISTINCT text) FROM bench_baseline_message WHERE database_id = @id");
        command.Parameters.AddWithValue("id", databaseId);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    public static async Task<long> DatabaseId(NpgsqlDataSource db, string name)
    {
        await using var command = db.CreateCommand("SELECT id FROM chat.database WHERE name = @name");
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteScalarAsync() is long id ? id : throw new InvalidOperationException($"database {name} not found in chat.database");
    }

    /// <summary>Every row of chat.message for one database: the row count and offset -> text (a repeated offset counts once).</summary>
    public static async Task<(long Rows, Dictionary<long, string> Texts)> Messages(NpgsqlDataSource db, string database)
    {
        await using var command = db.CreateCommand(
            """SELECT m."offset", m.text FROM chat.message m JOIN chat.database d ON d.id = m.database_id WHERE d.name = @name""");
        command.Parameters.AddWithValue("name", database);
        await using var reader = await command.ExecuteReaderAsync();
        var texts = new Dictionary<long, string>();
        long rows = 0;
        while (await reader.ReadAsync())
        {
            rows++;
            texts[reader.GetInt64(0)] = reader.GetString(1);
        }
        return (rows, texts);
    }
}
