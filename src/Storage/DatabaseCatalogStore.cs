using Npgsql;

namespace Chat.Storage;

/// <summary>
/// The catalog of published databases (<c>chat.database</c>): publish, look up, list, delete. Deleting or replacing a
/// database also deletes every row under it, in the same transaction.
/// </summary>
public sealed partial class DatabaseCatalogStore(NpgsqlDataSource dataSource)
{
    /// <summary>Inserts the catalog row (with the default settings unless given), or returns the one already there under that name.</summary>
    public async Task<(long Id, Identity Owner, DateTime CreatedAt)> CreateDatabaseAsync(string name, Identity owner, DateTime createdAt, ModuleSettings? settings = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await InsertDatabaseAsync(connection, null, name, owner, createdAt, settings ?? ModuleSettings.Default);
    }

    /// <summary>
    /// A published database cleared: the old catalog row and everything under it deleted and a new row inserted, in one
    /// transaction, so that no failure leaves the name without a catalog row or with half of its old rows.
    /// </summary>
    public async Task<(long Id, Identity Owner, DateTime CreatedAt)> ReplaceDatabaseAsync(long oldId, string name, Identity owner, DateTime createdAt, ModuleSettings? settings = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await DeleteDatabaseRowsAsync(connection, transaction, oldId);
        var created = await InsertDatabaseAsync(connection, transaction, name, owner, createdAt, settings ?? ModuleSettings.Default);
        await transaction.CommitAsync();
        return created;
    }

    private static async Task<(long Id, Identity Owner, DateTime CreatedAt)> InsertDatabaseAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string name, Identity owner, DateTime createdAt, ModuleSettings settings)
    {
        await using var command = new NpgsqlCommand("""
            WITH inserted AS (
                INSERT INTO chat.database (name, owner, created_at, settings) VALUES (@name, @owner, @created_at, @settings)
                ON CONFLICT (name) DO NOTHING
                RETURNING id, owner, created_at)
            SELECT id, owner, created_at FROM inserted
            UNION ALL
            SELECT id, owner, created_at FROM chat.database WHERE name = @name
            LIMIT 1
            """, connection, transaction);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("owner", owner.ToBytes());
        command.Parameters.AddWithValue("created_at", createdAt);
        command.Parameters.Add(SettingsParameter(settings));
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), Identity.FromBytes((byte[])reader[1]), reader.GetDateTime(2));
    }

    /// <summary>The catalog row of the database named <paramref name="name"/>, or null.</summary>
    public async Task<(long Id, Identity Owner, DateTime CreatedAt)?> FindDatabaseAsync(string name)
    {
        await using var command = dataSource.CreateCommand("SELECT id, owner, created_at FROM chat.database WHERE name = @name");
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync() ? (reader.GetInt64(0), Identity.FromBytes((byte[])reader[1]), reader.GetDateTime(2)) : null;
    }

    /// <summary>
    /// Deletes the database's catalog row and, by cascade, its users and connections; then its messages, log records and
    /// recorded calls. The catalog row goes first: that waits for every write holding it (FOR KEY SHARE) to end, so the
    /// deletes after it, each with a fresh snapshot, see those rows, and any later write finds no database and stores nothing.
    /// </summary>
    public async Task DeleteDatabaseAsync(long id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await DeleteDatabaseRowsAsync(connection, transaction, id);
        await transaction.CommitAsync();
    }

    private static async Task DeleteDatabaseRowsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long id)
    {
        foreach (var sql in new[]
                 {
                     "DELETE FROM chat.database WHERE id = @id",
                     "DELETE FROM chat.message WHERE database_id = @id",
                     "DELETE FROM chat.log WHERE database_id = @id",
                     "DELETE FROM chat.reducer_call WHERE database_id = @id",
                 })
        {
            await using var command = new NpgsqlCommand(sql, connection, transaction);
            command.Parameters.AddWithValue("id", id);
            await command.ExecuteNonQueryAsync();
        }
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
}
