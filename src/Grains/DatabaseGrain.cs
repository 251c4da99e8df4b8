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
/// <remarks>
/// The two cannot be written in one transaction (the grain state belongs to Orleans' storage provider), so the catalog
/// row is the truth about whether the database exists and under which id: a publish or delete that fails between the
/// two writes deactivates the grain, and every activation first brings the state in line with the catalog row.
/// </remarks>
public sealed class DatabaseGrain(
    [PersistentState("database", ChatSiloConfiguration.GrainStorage)] IPersistentState<DatabaseState> state,
    DatabaseCatalogStore store,
    ModuleLogStore logStore,
    ILogger<DatabaseGrain> logger) : Grain, IDatabaseGrain
{
    private string Name => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Database is { } stored)
            await ReconcileWithCatalogAsync(stored);
    }

    /// <summary>
    /// Heals what a failure between the catalog write and the state write leaves behind: a delete that removed the row
    /// but not the state, or a clear that replaced the row but did not record the new id. (State without a row can also
    /// only mean a delete; a row without state is a first publish whose state write failed, which the owner's retry heals.)
    /// </summary>
    private async Task ReconcileWithCatalogAsync(DatabaseDescriptor stored)
    {
        var row = await store.FindDatabaseAsync(Name);
        if (row?.Id == stored.Id)
            return;
        if (row is not { } current)
        {
            logger.LogWarning("Database {Database} (id {DatabaseId}) has no catalog row, so a delete did not finish recording itself; it is deleted",
                Name, stored.Id);
            await state.ClearStateAsync();
            return;
        }
        logger.LogWarning("Database {Database} has catalog id {DatabaseId} but its state recorded {StoredId}, so a clear did not finish recording itself; " +
                          "taking the catalog's (settings kept)", Name, current.Id, stored.Id);
        state.State.Database = new DatabaseDescriptor(Name, current.Id, current.Owner, current.CreatedAt, stored.Settings);
        await state.WriteStateAsync();
    }

    public async Task<PublishResult> Publish(Identity caller, bool clear = false, SettingsChange? settings = null)
    {
        if (DatabaseName.Validate(Name) is { } nameError)
            return new(ReducerResult.Fail(ReducerStatus.InvalidArgument, nameError), null, false);
        var existing = state.State.Database;
        var wanted = settings?.ApplyTo(existing?.Settings ?? ModuleSettings.Default);
        if (wanted?.Validate() is { } settingsError)
            return new(ReducerResult.Fail(ReducerStatus.InvalidArgument, settingsError), null, false);

        if (existing is not null && ChatModule.MayNotChange(Name, existing.Owner, caller) is { } refusal)
            return new(ReducerResult.Fail(ReducerStatus.PermissionDenied, refusal), null, false);
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
            var now = ChatReducers.TruncateToMicroseconds(DateTime.UtcNow);
            // A clear deletes the old rows and inserts the new catalog row in one transaction: never a name without a row.
            var (id, owner, createdAt) = existing is null
                ? await store.CreateDatabaseAsync(Name, caller, now)
                : await store.ReplaceDatabaseAsync(existing.Id, Name, caller, now);
            if (ChatModule.MayNotPublish(Name, owner, caller) is { } lost)
                return new(ReducerResult.Fail(ReducerStatus.PermissionDenied, lost), null, false);
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
            // The catalog may have changed even so (the state write failed, or the commit's answer was lost): the next
            // activation takes the catalog's word.
            state.State.Database = existing;
            DeactivateOnIdle();
            return new(StorageFailure.ToResult(e, Name, logger, "publishing"), null, false);
        }
    }

    public async Task<ReducerResult> Delete(Identity caller)
    {
        var existing = state.State.Database;
        if (existing is null)
            return ReducerResult.DatabaseNotFound(Name);
        if (ChatModule.MayNotChange(Name, existing.Owner, caller) is { } refusal)
            return ReducerResult.Fail(ReducerStatus.PermissionDenied, refusal);
        try
        {
            await store.DeleteDatabaseAsync(existing.Id);
        }
        catch (Exception e)
        {
            state.State.Database = existing;
            // A lost commit answer may hide a delete that happened: the next activation checks the catalog.
            DeactivateOnIdle();
            return StorageFailure.ToResult(e, Name, logger, "deleting");
        }
        try
        {
            await state.ClearStateAsync();
        }
        catch (Exception e)
        {
            // The catalog row and every row under it are gone, so the database is: the stale state is dropped by the
            // next activation (ReconcileWithCatalogAsync), which this one makes room for.
            state.State.Database = null;
            DeactivateOnIdle();
            logger.LogWarning("Deleted database {Database}, but could not clear its state ({Reason}); its next activation will",
                Name, e.GetBaseException().Message);
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
        if (ChatModule.MayNotChange(Name, existing.Owner, caller) is { } refusal)
            return ReducerResult.Fail(ReducerStatus.PermissionDenied, refusal);
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
            await logStore.AppendLogAsync(databaseId, [(ChatReducers.TruncateToMicroseconds(DateTime.UtcNow), ModuleLogLevel.Info, null, message)]);
            GrainFactory.GetModuleLogGrain(Name).Appended().Ignore();
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
}
