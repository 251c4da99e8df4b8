using Chat.Storage;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>
/// One identity in one database: applies set_name and the lifecycle reducers and is the only writer
/// of that user's row. Memory changes only after PostgreSQL has committed, so a failed call changes nothing.
/// </summary>
public sealed class UserGrain(UserStore store, ReducerCallStore callStore, DatabaseDescriptorCache descriptors, ILogger<UserGrain> logger) : Grain, IUserGrain
{
    private string _database = "";
    private Identity _identity;
    /// <summary>The catalog id the cached user belongs to; another id means the database was published anew.</summary>
    private long _loadedFor = -1;
    /// <summary>Set after a failed write: we cannot be sure what PostgreSQL holds, so the next call reloads the row.</summary>
    private bool _stale;
    private UserState? _user;
    private UnknownDatabaseGrace? _grace;
    /// <summary>This identity's set_name budget in this database; in memory, like the message log's buckets.</summary>
    private TokenBucket _renames;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_database, _identity) = UserGrainKey.Parse(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public Task<ReducerResult> SetName(ReducerCaller caller, string name) => Measured(ChatModule.SetName, () => ApplySetName(caller, name));

    private async Task<ReducerResult> ApplySetName(ReducerCaller caller, string name)
    {
        var (database, failure) = await Prepare(caller, ChatModule.SetName);
        if (database is null) return failure!;
        KeyedCall? keyed = null;
        if (caller.IdempotencyKey is { } key)
        {
            keyed = new KeyedCall(key, IdempotencyKey.Fingerprint(ChatModule.SetName, name), Now());
            RecordedCall? first;
            try
            {
                first = await FindRecordedCall(database, key);
            }
            catch (Exception e)
            {
                return Logged(ChatModule.SetName, StorageFailure.ToResult(e, _database, logger, "looking up an idempotency key"));
            }
            if (first is not null)
                return ChatMetrics.Answered(ChatModule.SetName, first.Answer(key, ChatModule.SetName, keyed.Fingerprint));
        }

        var outcome = ChatReducers.SetName(_user, name, database.Settings, ref _renames, DateTime.UtcNow);
        if (!outcome.IsOk)
            return Logged(ChatModule.SetName, ReducerResult.Fail(outcome.Status, outcome.Error!));
        var next = outcome.Value!;
        var newName = next.Row.Name!;
        long? version;
        try
        {
            version = await store.SaveNameAsync(database.Id, _identity, newName, ChatReducers.UniqueNameKey(newName, database.Settings), keyed);
        }
        catch (Exception e)
        {
            _renames.Refund(database.Settings.MessageBurst); // nothing changed: it costs nothing
            if (await RowExpired(e))
                return Logged(ChatModule.SetName, ReducerResult.Fail(ReducerStatus.FailedPrecondition, "Cannot set name for unknown user"));
            return Logged(ChatModule.SetName, Forget(e, ChatModule.SetName));
        }
        if (version is null)
        {
            _renames.Refund(database.Settings.MessageBurst);
            return Logged(ChatModule.SetName, ReducerResult.Fail(ReducerStatus.FailedPrecondition, ChatReducers.NameTaken(newName)));
        }
        return await Adopt(database, next, version.Value, ChatModule.SetName, caller, keyed?.At);
    }

    /// <summary>A retry of a set_name that committed finds its record; PostgreSQL holds it, as this grain may have moved since.</summary>
    private async Task<RecordedCall?> FindRecordedCall(DatabaseDescriptor database, string key)
    {
        var found = await callStore.FindCallsAsync(database.Id, [(_identity, key)]);
        return found.GetValueOrDefault((_identity, key));
    }

    public Task<ReducerResult> IdentityConnected(ReducerCaller caller, Guid gatewayId) => Measured(ChatModule.IdentityConnected, () => ApplyConnected(caller, gatewayId));

    private async Task<ReducerResult> ApplyConnected(ReducerCaller caller, Guid gatewayId)
    {
        var (database, failure) = await Prepare(caller, ChatModule.IdentityConnected);
        if (database is null) return failure!;
        var next = ChatReducers.IdentityConnected(_user, caller);
        var connection = caller.ConnectionId ?? default;
        return await Commit(database, next, ChatModule.IdentityConnected, caller,
            () => store.SaveConnectedAsync(database.Id, _identity, connection, gatewayId));
    }

    public Task<ReducerResult> IdentityDisconnected(ReducerCaller caller) => Measured(ChatModule.IdentityDisconnected, () => ApplyDisconnected(caller));

    private async Task<ReducerResult> ApplyDisconnected(ReducerCaller caller)
    {
        var (database, failure) = await Prepare(caller, ChatModule.IdentityDisconnected);
        if (database is null) return failure!;
        var (next, warning) = ChatReducers.IdentityDisconnected(_user, caller);
        if (warning is not null)
        {
            logger.ReducerWarning(_database, warning);
            GrainFactory.GetModuleLogGrain(_database).Write(ModuleLogLevel.Warn, ChatModule.IdentityDisconnected, warning).Ignore();
            return ReducerResult.Committed(Now());
        }
        var connection = caller.ConnectionId ?? default;
        return await Commit(database, next!, ChatModule.IdentityDisconnected, caller,
            () => store.SaveDisconnectedAsync(database.Id, _identity, connection, next!.Row.Online));
    }

    private static async Task<ReducerResult> Measured(string reducer, Func<Task<ReducerResult>> call)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await call();
        ChatMetrics.Reducer(reducer, result.Status, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    public async Task<UserRow?> Read()
    {
        var (database, _) = await Prepare(new ReducerCaller(_identity), "reading the user");
        return database is null ? null : _user?.Row;
    }

    /// <summary>Memory follows PostgreSQL: the new state is adopted only once its write has committed.</summary>
    private async Task<ReducerResult> Commit(DatabaseDescriptor database, UserState next, string reducer, ReducerCaller caller, Func<Task<long>> write)
    {
        long version;
        try
        {
            version = await write();
        }
        catch (Exception e)
        {
            if (reducer == ChatModule.IdentityDisconnected && await RowExpired(e))
            {
                // As for any unknown user: the seed's warning, and nothing changes.
                var (_, warning) = ChatReducers.IdentityDisconnected(null, caller);
                logger.ReducerWarning(_database, warning);
                GrainFactory.GetModuleLogGrain(_database).Write(ModuleLogLevel.Warn, reducer, warning!).Ignore();
                return ReducerResult.Committed(Now());
            }
            return Logged(reducer, Forget(e, reducer));
        }
        return await Adopt(database, next, version, reducer, caller);
    }

    /// <summary>
    /// Whether a write found this grain's row gone while its database is still there: the row was expired (UserExpiry
    /// deletes users that never set a name, are offline and sent nothing) while this activation still held it. Either
    /// way the grain then holds what PostgreSQL holds.
    /// </summary>
    private async Task<bool> RowExpired(Exception e)
    {
        if (e is not DatabaseGoneException) return false;
        _stale = true;
        descriptors.Forget(_database); // or the database itself is gone, or published anew
        var (database, _) = await Prepare(new ReducerCaller(_identity), "reloading a user whose row is gone");
        return database is not null && _user is null;
    }

    /// <summary>Takes the committed state and tells the change feed, in commit order (this grain runs one call at a time).</summary>
    private async Task<ReducerResult> Adopt(DatabaseDescriptor database, UserState next, long version, string reducer, ReducerCaller caller, DateTime? at = null)
    {
        var old = _user?.Row;
        _user = next;
        var now = at ?? Now();
        if (old != next.Row)
        {
            try
            {
                await GrainFactory.GetChangeFeedGrain(_database).Publish(database.Id, [new ChangeEvent(reducer, caller, now, old, next.Row, version, null)]);
            }
            catch (Exception e)
            {
                // Committed all the same; subscribers' gateways repair from PostgreSQL when they resynchronise.
                logger.UserChangeNotPublished(reducer, _identity, _database, e.GetBaseException().Message);
            }
        }
        return ReducerResult.Committed(now);
    }

    /// <summary>Finds the database and (re)loads the row when this grain has not seen its current incarnation.</summary>
    private async Task<(DatabaseDescriptor? Database, ReducerResult? Failure)> Prepare(ReducerCaller caller, string reducer)
    {
        if (ChatModule.CallerMismatch(reducer, _identity, caller.Identity) is { } mismatch)
            return (null, ReducerResult.Fail(ReducerStatus.PermissionDenied, mismatch));
        var database = await descriptors.Get(_database);
        if (database is null)
        {
            (_grace ??= new UnknownDatabaseGrace(this, () => _loadedFor == -1)).Unknown();
            (_user, _loadedFor) = (null, -1);
            return (null, ReducerResult.DatabaseNotFound(_database));
        }
        if (database.Id != _loadedFor || _stale)
        {
            try
            {
                var loaded = await store.LoadUserAsync(database.Id, _identity);
                _user = loaded is { } found ? new UserState(found.Row, [.. found.Connections]) : null;
                (_loadedFor, _stale) = (database.Id, false);
            }
            catch (Exception e)
            {
                return (null, StorageFailure.ToResult(e, _database, logger, $"loading the user for {reducer}"));
            }
        }
        return (database, null);
    }

    /// <summary>A failed call leaves an error line in the database's module log, as SpacetimeDB's does.</summary>
    private ReducerResult Logged(string reducer, ReducerResult failure)
    {
        if (failure.Status != ReducerStatus.NotFound)
            GrainFactory.GetModuleLogGrain(_database).Write(ModuleLogLevel.Error, reducer, failure.Error ?? failure.Status.ToString(),
                failure.Status == ReducerStatus.Unavailable ? null : _identity).Ignore(); // storage failures are nobody's doing
        return failure;
    }

    private ReducerResult Forget(Exception e, string reducer)
    {
        _stale = true;
        return StorageFailure.ToResult(e, _database, logger, reducer);
    }

    private static DateTime Now() => ChatReducers.TruncateToMicroseconds(DateTime.UtcNow);
}
