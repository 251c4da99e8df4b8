using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Chat.Storage;

/// <summary>
/// A database's settings, kept on its catalog row (migration 0011) as JSON: every setting by name, so one added later
/// reads back as its default from rows written before it.
/// </summary>
public sealed partial class DatabaseCatalogStore
{
    /// <summary>
    /// The catalog row of the database named <paramref name="name"/>, or null. Settings is null for a database published
    /// before migration 0011 whose settings have not been moved to the row yet.
    /// </summary>
    public async Task<(long Id, Identity Owner, DateTime CreatedAt, ModuleSettings? Settings)?> LoadDatabaseAsync(string name)
    {
        await using var command = dataSource.CreateCommand("SELECT id, owner, created_at, settings FROM chat.database WHERE name = @name");
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync()) return null;
        return (reader.GetInt64(0), Identity.FromBytes((byte[])reader[1]), reader.GetDateTime(2),
            reader.IsDBNull(3) ? null : ReadSettings(reader.GetString(3)));
    }

    /// <summary>Replaces the settings of database <paramref name="id"/>; false when its row is gone.</summary>
    public async Task<bool> SaveDatabaseSettingsAsync(long id, ModuleSettings settings)
    {
        await using var command = dataSource.CreateCommand("UPDATE chat.database SET settings = @settings WHERE id = @id");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.Add(SettingsParameter(settings));
        return await command.ExecuteNonQueryAsync() == 1;
    }

    /// <summary>
    /// Moves settings kept elsewhere before migration 0011 onto the row, unless it has some already; returns what the row
    /// holds afterwards, or null when the row is gone.
    /// </summary>
    public async Task<ModuleSettings?> AdoptDatabaseSettingsAsync(long id, ModuleSettings settings)
    {
        await using var command = dataSource.CreateCommand(
            "UPDATE chat.database SET settings = coalesce(settings, @settings) WHERE id = @id RETURNING settings");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.Add(SettingsParameter(settings));
        return await command.ExecuteScalarAsync() is string stored ? ReadSettings(stored) : null;
    }

    private static NpgsqlParameter SettingsParameter(ModuleSettings settings) =>
        new("settings", NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(settings) };

    private static ModuleSettings ReadSettings(string json) =>
        JsonSerializer.Deserialize<ModuleSettings>(json) ?? throw new InvalidDataException("A database's settings are JSON null");
}
