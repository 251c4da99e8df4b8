using Npgsql;

namespace Chat.LoadBench;

/// <summary>The raw PostgreSQL baseline's table and writes (as bench/Chat.Bench), and reading back what the stack stored.</summary>
public static class Sql
{
    /// <summary>chat.message's shape, constraints and indexes, except that the offset comes from a sequence.</summary>
    public static async Task CreateBaselineTable(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("""
            CREATE TABLE bench_load_baseline_message (
                database_id bigint      NOT NULL REFERENCES chat.database (id) ON DELETE CASCADE,
                "offset"    bigserial   NOT NULL CHECK ("offset" > 0),
                sender      bytea       NOT NULL CHECK (length(sender) = 32),
                sent        timestamptz NOT NULL,
                text        text        NOT NULL,
                PRIMARY KEY (database_id, "offset"));
            CREATE INDEX bench_load_baseline_message_sent ON bench_load_baseline_message (database_id, sent);
            CREATE INDEX bench_load_baseline_message_sender ON bench_load_baseline_message (database_id, sender);
            """);
        await command.ExecuteNonQueryAsync();
    }

    public static async Task TruncateBaseline(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("TRUNCATE bench_load_baseline_message");
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>One autocommit statement: one transaction, one durable commit, per message.</summary>
    public static async Task<string?> InsertBaseline(NpgsqlDataSource db, long databaseId, byte[] sender, string text, CancellationToken cancel)
    {
        await using var command = db.CreateCommand(
            "INSERT INTO bench_load_baseline_message (database_id, sender, sent, text) VALUES (@database_id, @sender, @sent, @text)");
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("sender", sender);
        command.Parameters.AddWithValue("sent", DateTime.UtcNow);
        command.Parameters.AddWithValue("text", text);
        return await command.ExecuteNonQueryAsync(cancel) == 1 ? null : "the INSERT stored no row";
    }

    public static async Task<(long Rows, long DistinctTexts)> CountBaseline(NpgsqlDataSource db, long databaseId)
    {
        await using var command = db.CreateCommand("SELECT count(*), count(DISTINCT text) FROM bench_load_baseline_message WHERE database_id = @id");
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

    /// <summary>The settings that decide whether a commit is durable, as <c>name=value</c> pairs.</summary>
    public static async Task<string> Durability(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("""
            SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
            WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'commit_delay', 'server_version')
            """);
        return (string)(await command.ExecuteScalarAsync())!;
    }
}
