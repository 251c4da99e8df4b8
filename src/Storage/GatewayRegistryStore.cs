using Npgsql;

namespace Chat.Storage;

/// <summary>
/// The gateways that hold client connections (<c>chat.gateway</c>), kept by their heartbeats, and the connections
/// left behind by gateways that went silent, for the janitor to end.
/// </summary>
public sealed class GatewayRegistryStore(NpgsqlDataSource dataSource)
{
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
}
