using Npgsql;

namespace Chat.Storage;

/// <summary>
/// The recorded reducer calls (<c>chat.reducer_call</c>, migration 0008): what a retry with the same idempotency key
/// finds. The records are written with the calls' effects, by <see cref="UserStore"/> and <see cref="MessageStore"/>.
/// </summary>
public sealed class ReducerCallStore(NpgsqlDataSource dataSource)
{
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
}
