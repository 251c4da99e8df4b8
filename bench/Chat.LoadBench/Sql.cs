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

    /// <summary>Rows and distinct texts of the whole baseline table (emptied before each measurement that uses this).</summary>
    public static async Task<(long Rows, long DistinctTexts)> CountBaseline(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("SELECT count(*), count(DISTINCT text) FROM bench_baseline_message");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>The ids of many databases at once, in the order of the names given.</summary>
    public static async Task<long[]> DatabaseIds(NpgsqlDataSource db, string[] names)
    {
        await using var command = db.CreateCommand("SELECT name, id FROM chat.database WHERE name = ANY(@names)");
        command.Parameters.AddWithValue("names", names);
        var ids = new Dictionary<string, long>();
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                ids[reader.GetString(0)] = reader.GetInt64(1);
        return names.Select(n => ids.TryGetValue(n, out var id) ? id : throw new InvalidOperationException($"database {n} not found in chat.database")).ToArray();
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

/// <summary>The honesty check shared by the scenarios that send through the stack.</summary>
public static class Verify
{
    /// <summary>
    /// Every acknowledged message stored exactly once: rows = acknowledgements, offsets exactly 1..n, each acknowledged
    /// offset once and with the text that was sent. Returns the problems (empty when all is well) and the row count.
    /// </summary>
    public static async Task<(List<string> Issues, long Rows)> Acknowledged(NpgsqlDataSource db, string label, string database,
        IReadOnlyCollection<(ulong Offset, string Text)> acked)
    {
        var issues = new List<string>();
        var stored = await Sql.Messages(db, database);
        if (stored.Rows != acked.Count) issues.Add($"{label} {database}: {acked.Count} messages acknowledged but {stored.Rows} rows in chat.message");
        if (stored.Texts.Count != stored.Rows) issues.Add($"{label} {database}: {stored.Rows} rows but {stored.Texts.Count} distinct offsets");
        if (stored.Texts.Count > 0 && (stored.Texts.Keys.Min() != 1 || stored.Texts.Keys.Max() != stored.Texts.Count))
            issues.Add($"{label} {database}: offsets {stored.Texts.Keys.Min()}..{stored.Texts.Keys.Max()} for {stored.Texts.Count} rows (not exactly 1..n)");
        var seen = new HashSet<ulong>();
        var wrong = 0;
        foreach (var (offset, text) in acked)
            if (!seen.Add(offset) || !stored.Texts.TryGetValue((long)offset, out var storedText) || storedText != text)
                if (wrong++ == 0) issues.Add($"{label} {database}: acknowledged offset {offset} ('{text}') is a repeat, missing or holds another text");
        if (wrong > 1) issues.Add($"{label} {database}: {wrong} acknowledged offsets wrong in all");
        return (issues, stored.Rows);
    }
}

public static class Presence
{
    /// <summary>Users of a database marked online, and its rows in chat.connection (one per live Connect stream).</summary>
    public static async Task<(long Online, long Connections)> Count(NpgsqlDataSource db, string database)
    {
        await using var command = db.CreateCommand("""
            SELECT (SELECT count(*) FROM chat."user" u JOIN chat.database d ON d.id = u.database_id WHERE d.name = @name AND u.online),
                   (SELECT count(*) FROM chat.connection c JOIN chat.database d ON d.id = c.database_id WHERE d.name = @name)
            """);
        command.Parameters.AddWithValue("name", database);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }
}
