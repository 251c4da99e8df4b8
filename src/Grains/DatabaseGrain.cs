using Chat.Storage;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>
/// Where a database's settings were kept before migration 0011 (Orleans grain state); read only to move them onto the
/// catalog row. Its shape must not change while deployments may still hold it.
/// </summary>
[GenerateSerializer]
public sealed class DatabaseState
{
    [Id(0)] public DatabaseDescriptor? Database { get; set; }
}

/// <summary>
/// A published database. Its one home is its catalog row in <c>chat.database</c> (id, owner, creation time and
/// settings; users and messages hang off the id), so every publish, clear, settings change and delete is one
/// PostgreSQL transaction, and an activation starts from the row.
/// </summary>
public sealed class DatabaseGrain(
    [PersistentState("database", ChatSiloConfiguration.GrainStorage)] IPersistentState<DatabaseState> legacyState,
    DatabaseCatalogStore store,
    ModuleLogStore logStore,
    ILogger<DatabaseGrain> logger) : Grain, IDatabaseGrain
{
    private string Name => this.GetPrimaryKeyString();

    /// <summary>The catalog row as last read or written by this activation; null when there is none.</summary>
    private DatabaseDescriptor? _database;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var legacy = legacyState.State.Database;
        if (await store.LoadDatabaseAsync(Name) is { } row)
        {
            var settings = row.Settings ?? await AdoptLegacySettingsAsync(row.Id, legacy);
            _database = settings is null ? null : new DatabaseDescriptor(Name, row.Id, row.Owner, row.CreatedAt, settings);
        }
        if (legacy is not null)
            await ForgetLegacyStateAsync();
    }

    /// <summary>
    /// A database published before migration 0011 keeps its settings in its grain state: they move to the row (whatever
    /// id the state recorded: a clear that did not finish recording itself kept them too). A row with neither is a first
    /// publish whose state write failed; it gets the defaults, as that publish would have. Null when the row is gone.
    /// </summary>
    private async Task<ModuleSettings?> AdoptLegacySettingsAsync(long id, DatabaseDescriptor? legacy)
    {
        var adopted = await store.AdoptDatabaseSettingsAsync(id, legacy?.Settings ?? ModuleSettings.Default);
        logger.AdoptedLegacySettings(Name, id, legacy is null ? " (none were stored: defaults)" : "");
        return adopted;
    }

    /// <summary>Best effort: a state left behind is ignored by every later activation, as the row has settings by then.</summary>
    private async Task ForgetLegacyStateAsync()
    {
        try
        {
            await legacyState.ClearStateAsync();
        }
        catch (Exception e)
        {
            logger.LegacyStateNotCleared(Name, e.GetBaseException().Message);
        }
    }

    public async Task<PublishResult> Publish(Identity caller, bool clear = false, SettingsChange? settings = null)
    {
        if (DatabaseName.Validate(Name) is { } nameError)
            return new(ReducerResult.Fail(ReducerStatus.InvalidArgument, nameError), null, false);
        var existing = _database;
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
            return new(ReducerResult.Committed(DateTime.UtcNow), _database, Created: false);
        }

        try
        {
            var now = ChatReducers.TruncateToMicroseconds(DateTime.UtcNow);
            var newSettings = wanted ?? existing?.Settings ?? ModuleSettings.Default;
            // A clear deletes the old rows and inserts the new catalog row in one transaction: never a name without a row.
            var (id, owner, createdAt) = existing is null
                ? await store.CreateDatabaseAsync(Name, caller, now, newSettings)
                : await store.ReplaceDatabaseAsync(existing.Id, Name, caller, now, newSettings);
            if (ChatModule.MayNotPublish(Name, owner, caller) is { } lost)
                return new(ReducerResult.Fail(ReducerStatus.PermissionDenied, lost), null, false);
            var created = new DatabaseDescriptor(Name, id, owner, createdAt, newSettings);
            _database = created;
            logger.PublishedDatabase(Name, id, owner, existing is null ? "" : ", cleared");
            await Announce(created);
            // Awaited, so that the record comes before anything logged by calls made after the publish was answered.
            await LogBestEffort(id, existing is null ? $"Database {Name} published by {owner}" : $"Database {Name} cleared and published again by {owner}");
            return new(ReducerResult.Committed(createdAt), created, Created: true);
        }
        catch (Exception e)
        {
            // The catalog may have changed even so (the commit's answer was lost): the next activation reads it.
            _database = existing;
            DeactivateOnIdle();
            return new(StorageFailure.ToResult(e, Name, logger, "publishing"), null, false);
        }
    }

    public async Task<ReducerResult> Delete(Identity caller)
    {
        var existing = _database;
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
            // A lost commit answer may hide a delete that happened: the next activation reads the catalog.
            DeactivateOnIdle();
            return StorageFailure.ToResult(e, Name, logger, "deleting");
        }
        _database = null;
        logger.DeletedDatabase(Name, existing.Id);
        await Announce(null);
        return ReducerResult.Committed(DateTime.UtcNow);
    }

    public async Task<ReducerResult> UpdateSettings(Identity caller, ModuleSettings settings)
    {
        var existing = _database;
        if (existing is null)
            return ReducerResult.DatabaseNotFound(Name);
        if (ChatModule.MayNotChange(Name, existing.Owner, caller) is { } refusal)
            return ReducerResult.Fail(ReducerStatus.PermissionDenied, refusal);
        if (settings.Validate() is { } error)
            return ReducerResult.Fail(ReducerStatus.InvalidArgument, error);
        try
        {
            if (!await store.SaveDatabaseSettingsAsync(existing.Id, settings))
            {
                // Only a delete behind this activation's back removes the row; the next activation reads the catalog.
                DeactivateOnIdle();
                return ReducerResult.DatabaseNotFound(Name);
            }
        }
        catch (Exception e)
        {
            return StorageFailure.ToResult(e, Name, logger, "updating settings");
        }
        _database = existing with { Settings = settings };
        logger.UpdatedSettings(Name, settings);
        await Announce(_database);
        await LogBestEffort(existing.Id, $"Settings changed by {caller}: {settings}");
        return ReducerResult.Committed(DateTime.UtcNow);
    }

    public Task<DatabaseDescriptor?> Describe()
    {
        if (_database is null) (_grace ??= new UnknownDatabaseGrace(this, () => _database is null)).Unknown();
        return Task.FromResult(_database);
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
            logger.ModuleLogRecordLost(Name, e.GetBaseException().Message, message);
        }
    }

    /// <summary>The silos' descriptor caches that asked this activation; told of every change (see <see cref="DatabaseDescriptorCache"/>).</summary>
    private readonly HashSet<IDatabaseWatcher> _watchers = [];

    /// <summary>One per silo is expected; the bound only stops a misbehaving client from growing the set.</summary>
    private const int MaxWatchers = 1_000;

    public Task<DatabaseDescriptor?> Watch(IDatabaseWatcher watcher)
    {
        if (_watchers.Count < MaxWatchers) _watchers.Add(watcher);
        return Describe();
    }

    /// <summary>
    /// Tells every watching cache, so a change applies to the very next call on any silo. Waits at most
    /// <see cref="DatabaseDescriptorCache.MaxAge"/>: by then any cache this could not reach has let the old descriptor expire.
    /// A watcher that failed is dropped; its silo asks again when it next needs the descriptor.
    /// </summary>
    private async Task Announce(DatabaseDescriptor? database)
    {
        var deadline = Task.Delay(DatabaseDescriptorCache.MaxAge);
        var told = _watchers.ToList().Select(async watcher =>
        {
            try
            {
                await watcher.Changed(Name, database);
            }
            catch (Exception e)
            {
                _watchers.Remove(watcher);
                logger.WatcherNotTold(Name, e.GetBaseException().Message);
            }
        }).ToList();
        await Task.WhenAny(Task.WhenAll(told), deadline);
    }
}
