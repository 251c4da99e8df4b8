using Npgsql;

namespace Chat.Bench;

/// <summary>The checks that every acknowledged message is stored exactly once.</summary>
public static class Sql
{
    private const string MessagesOf = "chat.message m JOIN chat.database d ON d.id = m.database_id WHERE d.name = @key";
    private const string BaselineOf = "bench_baseline_message m WHERE m.database_id = @key";

    /// <summary>The grains' rows: one per acknowledgement, per sender, with offsets exactly 1..n.</summary>
    public static Task<List<string>> VerifyMessages(NpgsqlDataSource db, string database, IReadOnlyList<(Identity Sender, long Count)> acked) =>
        Verify(db, "grains", MessagesOf, database, acked, gapFree: true);

    /// <summary>The baseline's rows: one per acknowledgement, per sender (its offsets come from a sequence shared by all levels).</summary>
    public static Task<List<string>> VerifyBaseline(NpgsqlDataSource db, long databaseId, IReadOnlyList<(Identity Sender, long Count)> acked) =>
        Verify(db, "baseline", BaselineOf, databaseId, acked, gapFree: false);

    /// <summary>Rows per inserting transaction (xmin) among the grains' rows after <paramref name="afterOffset"/>, i.e. the measured ones.</summary>
    public static async Task<double> AverageGroupSize(NpgsqlDataSource db, string database, long afterOffset)
    {
        await using var command = db.CreateCommand(
            $"""SELECT count(*)::float8 / nullif(count(DISTINCT m.xmin::text), 0) FROM {MessagesOf} AND m."offset" > @after""");
        command.Parameters.AddWithValue("key", database);
        command.Parameters.AddWithValue("after", afterOffset);
        return await command.ExecuteScalarAsync() is double size ? size : double.NaN;
    }

    /// <summary>
    /// The module log of a grains database: with <paramref name="logging"/> exactly one info record from send_message per
    /// acknowledged message, each matching one stored message (same database, <c>at</c> = its <c>sent</c>, same text);
    /// without it none. Past <paramref name="retention"/> records the grain prunes the oldest, so a long run can only be
    /// checked for the newest records being an unbroken run of the newest messages. One statement, one snapshot, so a
    /// prune still under way cannot make the counts disagree.
    /// </summary>
    public static async Task<(long Rows, bool Pruned, List<string> Issues)> VerifyLog(NpgsqlDataSource db, string database, bool logging,
        long acked, int retention)
    {
        await using var command = db.CreateCommand("""
            WITH l AS (
                SELECT l.* FROM chat.log l JOIN chat.database d ON d.id = l.database_id
                WHERE d.name = @key AND l.reducer = 'send_message')
            SELECT (SELECT count(*) FROM l),
                   (SELECT count(*) FROM l WHERE l.level <> @info),
                   (SELECT count(*) FROM l JOIN chat.message m ON m.database_id = l.database_id AND m.sent = l.at AND m.text = l.message),
                   (SELECT count(DISTINCT l.at) FROM l),
                   (SELECT count(*) FROM chat.message m JOIN chat.database d ON d.id = m.database_id
                    WHERE d.name = @key AND m.sent >= (SELECT min(l.at) FROM l))
            """);
        command.Parameters.AddWithValue("key", database);
        command.Parameters.AddWithValue("info", (short)ModuleLogLevel.Info);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (rows, notInfo, matched, distinct, newest) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));

        var label = $"log of {database}";
        var issues = new List<string>();
        var pruned = logging && acked > retention;
        if (!logging && rows != 0) issues.Add($"{label}: logging is off but {rows} send_message records were written");
        if (logging && !pruned && rows != acked) issues.Add($"{label}: {rows} send_message records but {acked} messages acknowledged");
        if (pruned && (rows < retention || rows > acked)) issues.Add($"{label}: {rows} send_message records after pruning to {retention} of {acked}");
        if (notInfo != 0) issues.Add($"{label}: {notInfo} send_message records not at info level");
        if (matched != rows) issues.Add($"{label}: {rows - matched} send_message records match no stored message");
        if (distinct != rows) issues.Add($"{label}: {rows} send_message records but only {distinct} distinct timestamps (duplicates)");
        if (rows > 0 && newest != rows) issues.Add($"{label}: {rows} records but {newest} messages since the oldest of them (holes)");
        return (rows, pruned, issues);
    }

    // `from` is one of the two constants above, never input; the values are parameters.
    private static async Task<List<string>> Verify(NpgsqlDataSource db, string label, string from, object key,
        IReadOnlyList<(Identity Sender, long Count)> acked, bool gapFree)
    {
        var issues = new List<string>();
        var expected = acked.Sum(a => a.Count);
        await using (var totals = db.CreateCommand($"""SELECT count(*), count(DISTINCT m."offset"), coalesce(max(m."offset"), 0) FROM {from}"""))
        {
            totals.Parameters.AddWithValue("key", key);
            await using var reader = await totals.ExecuteReaderAsync();
            await reader.ReadAsync();
            var (rows, distinct, max) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
            if (rows != expected) issues.Add($"{label}: {rows} rows stored but {expected} messages acknowledged");
            if (distinct != rows) issues.Add($"{label}: {rows} rows but only {distinct} distinct offsets");
            if (gapFree && max != rows) issues.Add($"{label}: max offset {max} but {rows} rows (offsets not exactly 1..n)");
        }

        var stored = new Dictionary<Identity, long>();
        await using (var perSender = db.CreateCommand($"SELECT m.sender, count(*) FROM {from} GROUP BY m.sender"))
        {
            perSender.Parameters.AddWithValue("key", key);
            await using var reader = await perSender.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                stored[Identity.FromBytes((byte[])reader[0])] = reader.GetInt64(1);
        }
        foreach (var (sender, count) in acked)
            if (stored.GetValueOrDefault(sender) != count)
                issues.Add($"{label}: sender {sender.ToShortString()} had {count} messages acknowledged but {stored.GetValueOrDefault(sender)} stored");
        if (stored.Keys.Except(acked.Select(a => a.Sender)) is var strangers && strangers.Any())
            issues.Add($"{label}: rows from {strangers.Count()} senders that sent nothing");
        return issues;
    }
}
