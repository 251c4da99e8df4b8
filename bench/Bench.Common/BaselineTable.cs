using Npgsql;

namespace Chat.Benchmarks;

/// <summary>
/// The raw-PostgreSQL baseline the benchmarks measure the stack against: the same rows as chat.message,
/// written one INSERT and one commit each.
/// </summary>
public static class BaselineTable
{
    public const string Name = "bench_baseline_message";

    /// <summary>
    /// chat.message's shape, constraints and indexes (no foreign key, as chat.message has none since migration 0007),
    /// except that the offset comes from a sequence, as independent writers cannot agree on one. Replaces a table left
    /// by an earlier run against the same server.
    /// </summary>
    public static async Task Create(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("""
            DROP TABLE IF EXISTS bench_baseline_message;
            CREATE TABLE bench_baseline_message (
                database_id bigint      NOT NULL,
                "offset"    bigserial   NOT NULL CHECK ("offset" > 0),
                sender      bytea       NOT NULL CHECK (length(sender) = 32),
                sent        timestamptz NOT NULL,
                text        text        NOT NULL,
                PRIMARY KEY (database_id, "offset"));
            CREATE INDEX bench_baseline_message_sent ON bench_baseline_message (database_id, sent);
            CREATE INDEX bench_baseline_message_sender ON bench_baseline_message (database_id, sender);
            """);
        await command.ExecuteNonQueryAsync();
    }

    public static async Task Drop(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("DROP TABLE IF EXISTS bench_baseline_message");
        await command.ExecuteNonQueryAsync();
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

    /// <summary>One autocommit statement: one transaction, one durable commit, per message.</summary>
    public static async Task<string?> Insert(NpgsqlDataSource db, long databaseId, byte[] sender, string text, CancellationToken cancel)
    {
        await using var command = db.CreateCommand(
            "INSERT INTO bench_baseline_message (database_id, sender, sent, text) VALUES (@database_id, @sender, @sent, @text)");
        command.Parameters.AddWithValue("database_id", databaseId);
        command.Parameters.AddWithValue("sender", sender);
        command.Parameters.AddWithValue("sent", DateTime.UtcNow);
        command.Parameters.AddWithValue("text", text);
        return await command.ExecuteNonQueryAsync(cancel) == 1 ? null : "the INSERT stored no row";
    }

    public static async Task Truncate(NpgsqlDataSource db)
    {
        await using var command = db.CreateCommand("TRUNCATE bench_baseline_message");
        await command.ExecuteNonQueryAsync();
    }
}
