using Chat.Storage;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>
/// One identity in one database: applies set_name and the lifecycle reducers and is the only writer
/// of that user's row. Memory changes only after PostgreSQL has committed, so a failed call changes nothing.
/// </summary>
public sealed class UserGrain(ChatStore store, ILogger<UserGrain> logger) : Grain, IUserGrain
{
    private string _database = "";
    private Identity _identity;
    /// <summary>The catalog id the cached user belongs to; another id means the database was published anew.</summary>
    private long _loadedFor = -1;
    /// <summary>Set after a failed write: we cannot be sure what PostgreSQL holds, so the next call reloads the row.</summary>
    private bool _stale;
    private UserState? _user;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_database, _identity) = UserGrainKey.Parse(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public async Task<ReducerResult> SetName(ReducerCaller caller, string name)
    {
        var (database, failure) = await Prepare(caller, "set_name");
        if (database is null) return failure!;

        var outcome = ChatReducers.SetName(_user, name, database.Settings);
        if (!outcome.IsOk)
            return Logged("set_name", ReducerResult.Fail(outcome.Status, outcome.Error!));
        var next = outcome.Value!;
        var newName = next.Row.Name!;
        try
        {
            if (!await store.SaveNameAsync(database.Id, _identity, newName, ChatReducers.UniqueNameKey(newName, database.Settings)))
                return Logged("set_name", ReducerResult.Fail(ReducerStatus.FailedPrecondition, ChatReducers.NameTaken(newName)));
        }
        catch (Exception e)
        {
            return Logged("set_name", Forget(e, "set_name"));
        }
        _user = next;
        return ReducerResult.Committed(Now());
    }

    public async Task<ReducerResult> IdentityConnected(ReducerCaller caller, Guid gatewayId)
    {
        var (database, failure) = await Prepare(caller, "identity_connected");
        if (database is null) return failure!;
        var next = ChatReducers.IdentityConnected(_user, caller);
        var connection = caller.ConnectionId ?? default;
        return await Commit(next, "identity_connected",
            () => store.SaveConnectedAsync(database.Id, _identity, connection, gatewayId));
    }

    public async Task<ReducerResult> IdentityDisconnected(ReducerCaller caller)
    {
        var (database, failure) = await Prepare(caller, "identity_disconnected");
        if (database is null) return failure!;
        var (next, warning) = ChatReducers.IdentityDisconnected(_user, caller);
        if (warning is not null)
        {
            logger.LogWarning("[{Database}] {Warning}", _database, warning);
            GrainFactory.GetModuleLogGrain(_database).Write(ModuleLogLevel.Warn, "identity_disconnected", warning).Ignore();
            return ReducerResult.Committed(Now());
        }
        var connection = caller.ConnectionId ?? default;
        return await Commit(next!, "identity_disconnected",
            () => store.SaveDisconnectedAsync(database.Id, _identity, connection, next!.Row.Online));
    }

    public async Task<UserRow?> Get()
    {
        var (database, _) = await Prepare(new ReducerCaller(_identity), "reading the user");
        return database is null ? null : _user?.Row;
    }

    /// <summary>Memory follows PostgreSQL: the new state is adopted only once its write has committed.</summary>
    private async Task<ReducerResult> Commit(UserState next, string reducer, Func<Task> write)
    {
        try
        {
            await write();
        }
        catch (Exception e)
        {
            return Logged(reducer, Forget(e, reducer));
        }
        _user = next;
        return ReducerResult.Committed(Now());
    }

    /// <summary>Finds the database and (re)loads the row when this grain has not seen its current incarnation.</summary>
    private async Task<(DatabaseDescriptor? Database, ReducerResult? Failure)> Prepare(ReducerCaller caller, string reducer)
    {
        if (caller.Identity != _identity)
            return (null, ReducerResult.Fail(ReducerStatus.PermissionDenied,
                $"{reducer} was routed to the user {_identity} but called by {caller.Identity}."));
        var database = await GrainFactory.GetDatabaseGrain(_database).Describe();
        if (database is null)
        {
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
            GrainFactory.GetModuleLogGrain(_database).Write(ModuleLogLevel.Error, reducer, failure.Error ?? failure.Status.ToString()).Ignore();
        return failure;
    }

    private ReducerResult Forget(Exception e, string reducer)
    {
        _stale = true;
        return StorageFailure.ToResult(e, _database, logger, reducer);
    }

    private static DateTime Now() => ChatReducers.TruncateToMicroseconds(DateTime.UtcNow);
}
