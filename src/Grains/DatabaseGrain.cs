using Chat.Storage;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

[GenerateSerializer]
public sealed class DatabaseState
{
    [Id(0)] public DatabaseDescriptor? Database { get; set; }
}

/// <summary>
/// A published database: its catalog row in <c>chat.database</c> (which users and messages hang off)
/// and its metadata and settings as grain state in the Orleans ADO.NET storage.
/// </summary>
public sealed class DatabaseGrain(
    [PersistentState("database", ChatSiloConfiguration.GrainStorage)] IPersistentState<DatabaseState> state,
    ChatStore store,
    ILogger<DatabaseGrain> logger) : Grain, IDatabaseGrain
{
    private string Name => this.GetPrimaryKeyString();

    public async Task<PublishResult> Publish(Identity caller, bool clear = false, SettingsChange? settings = null)
    {
        if (DatabaseName.Validate(Name) is { } nameError)
            return new(ReducerResult.Fail(ReducerStatus.InvalidArgument, nameError), null, false);
        var existing = state.State.Database;
        var wanted = settings?.ApplyTo(existing?.Settings ?? ModuleSettings.Default);
        if (wanted?.Validate() is { } settingsError)
            return new(ReducerResult.Fail(ReducerStatus.InvalidArgument, settingsError), null, false);

        if (existing is not null && existing.Owner != caller)
            return new(NotOwner(existing), null, false);
        if (existing is not null && !clear)
        {
            if (wanted is not null && wanted != existing.Settings)
            {
                var updated = await UpdateSettings(caller, wanted);
                if (!updated.IsCommitted) return new(updated, null, false);
            }
            return new(ReducerResult.Committed(DateTime.UtcNow), state.State.Database, Created: false);
        }

        try
        {
            if (existing is not null)
                await store.DeleteDatabaseAsync(existing.Id);
            var (id, owner, createdAt) = await store.CreateDatabaseAsync(Name, caller, ChatReducers.TruncateToMicroseconds(DateTime.UtcNow));
            if (owner != caller)
                return new(ReducerResult.Fail(ReducerStatus.PermissionDenied,
                    $"Database '{Name}' is owned by identity {owner}; only its owner can publish to it."), null, false);
            var created = new DatabaseDescriptor(Name, id, owner, createdAt, wanted ?? existing?.Settings ?? ModuleSettings.Default);
            state.State.Database = created;
            await state.WriteStateAsync();
            logger.LogInformation("Published database {Database} (id {DatabaseId}, owner {Owner}{Cleared})",
                Name, id, owner, existing is null ? "" : ", cleared");
            await Announce(created);
            // Awaited, so that the record comes before anything logged by calls made after the publish was answered.
            await LogBestEffort(id, existing is null ? $"Database {Name} published by {owner}" : $"Database {Name} cleared and published again by {owner}");
            return new(ReducerResult.Committed(createdAt), created, Created: true);
        }
        catch (Exception e)
        {
            state.State.Database = existing;
            return new(StorageFailure.ToResult(e, Name, logger, "publishing"), null, false);
        }
    }

    public async Task<ReducerResult> Delete(Identity caller)
    {
        var existing = state.State.Database;
        if (existing is null)
            return ReducerResult.DatabaseNotFound(Name);
        if (existing.Owner != caller)
            return NotOwner(existing);
        try
        {
            await store.DeleteDatabaseAsync(existing.Id);
            await state.ClearStateAsync();
        }
        catch (Exception e)
        {
            state.State.Database = existing;
            return StorageFailure.ToResult(e, Name, logger, "deleting");
        }
        logger.LogInformation("Deleted database {Database} (id {DatabaseId}) and all its rows", Name, existing.Id);
        await Announce(null);
        return ReducerResult.Committed(DateTime.UtcNow);
    }

    public async Task<ReducerResult> UpdateSettings(Identity caller, ModuleSettings settings)
    {
        var existing = state.State.Database;
        if (existing is null)
            return ReducerResult.DatabaseNotFound(Name);
        if (existing.Owner != caller)
            return NotOwner(existing);
        if (settings.Validate() is { } error)
            return ReducerResult.Fail(ReducerStatus.InvalidArgument, error);
        state.State.Database = existing with { Settings = settings };
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception e)
        {
            state.State.Database = existing;
            return StorageFailure.ToResult(e, Name, logger, "updating settings");
        }
        logger.LogInformation("Updated settings of database {Database}: {Settings}", Name, settings);
        await Announce(state.State.Database);
        await LogBestEffort(existing.Id, $"Settings changed by {caller}: {settings}");
        return ReducerResult.Committed(DateTime.UtcNow);
    }

    public Task<DatabaseDescriptor?> Describe()
    {
        if (state.State.Database is null) (_grace ??= new UnknownDatabaseGrace(this, () => state.State.Database is null)).Unknown();
        return Task.FromResult(state.State.Database);
    }

    private UnknownDatabaseGrace? _grace;

    /// <summary>Written here, not through the module log grain (which would ask this grain for the id while it waits).</summary>
    private async Task LogBestEffort(long databaseId, string message)
    {
        try
        {
            await store.AppendLogAsync(databaseId, [(ChatReducers.TruncateToMicroseconds(DateTime.UtcNow), ModuleLogLevel.Info, null, message)]);
        }
        catch (Exception e)
        {
            logger.LogWarning("Could not write to the module log of {Database} ({Reason}): {Message}", Name, e.GetBaseException().Message, message);
        }
    }

    /// <summary>
    /// The message log caches the descriptor between groups; telling it makes a change apply to the very next call.
    /// Best effort: if it cannot be told, it still re-reads the descriptor before its next commit.
    /// </summary>
    private async Task Announce(DatabaseDescriptor? database)
    {
        try
        {
            await GrainFactory.GetMessageLogGrain(Name).DatabaseChanged(database);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Could not tell the message log of {Database} about a change; it will notice before its next commit", Name);
        }
    }

    private ReducerResult NotOwner(DatabaseDescriptor database) =>
        ReducerResult.Fail(ReducerStatus.PermissionDenied,
            $"Database '{Name}' is owned by identity {database.Owner}; only its owner can change or delete it.");
}
