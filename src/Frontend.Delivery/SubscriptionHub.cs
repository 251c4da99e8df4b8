using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Frontend.Delivery;

/// <summary>
/// The gateway's side of the change feeds: one observer for the whole gateway, one replica per database that
/// has subscribers here. Each committed change reaches this gateway once and is filtered here for its clients.
/// </summary>
public sealed class SubscriptionHub : IChangeObserver, IReplicaOwner, IDisposable
{
    private readonly IGrainFactory _grains;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeSpan _renewEvery;
    private readonly Dictionary<string, DatabaseReplica> _replicas = [];
    // Databases whose last replica here is still leaving the change feed; guarded by the lock on _replicas.
    private readonly Dictionary<string, Task> _leaving = [];
    private readonly Lazy<IChangeObserver> _reference;

    public SubscriptionHub(IGrainFactory grains, IOptions<GatewayOptions> options, ILoggerFactory loggers)
    {
        (_grains, _loggers) = (grains, loggers);
        _logger = loggers.CreateLogger<SubscriptionHub>();
        _renewEvery = options.Value.FeedRenewInterval;
        _reference = new(() => grains.CreateObjectReference<IChangeObserver>(this));
    }

    public int Replicas { get { lock (_replicas) return _replicas.Count; } }

    /// <summary>Attempts at registering one set, each with a fresh replica, while its database keeps being deleted or republished.</summary>
    private const int SubscribeAttempts = 3;

    /// <summary>
    /// Registers the set with the replica of its connection's database (created and loaded on first use) and returns
    /// the replica and the set's starting point. The replica is claimed for the set until it is in, so it cannot stop in
    /// between, however other connections come and go; one stopped anyway (its database was deleted or republished
    /// meanwhile) is replaced by a fresh one, which then tells what became of the database.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The database does not exist.</exception>
    public async Task<(DatabaseReplica Replica, IReadOnlyList<UserRow> Users, long DatabaseId, long LastOffset, IReadOnlyDictionary<Identity, UserRow>? AllUsers)> Subscribe(SubscriptionSet set)
    {
        for (var attempt = 1; ; attempt++)
        {
            var replica = Claim(set.Connection.Database);
            try
            {
                await replica.Loaded;
                if (set.Join is { NeedsPreparation: true } join)
                {
                    // The long read (every joining message's sender) runs off the replica's queue, up to a point the replica
                    // names; registering then catches up from there on the queue, where nothing can slip between.
                    try
                    {
                        var (preparedDatabase, preparedOffset) = await replica.Position();
                        await join.Prepare(_grains.GetGrain<ITableReaderGrain>(0), preparedDatabase, preparedOffset);
                    }
                    catch (Exception e) when (e is not ObjectDisposedException)
                    {
                        try { await replica.Unclaim(); } catch (ObjectDisposedException) { }
                        throw;
                    }
                }
                var (users, databaseId, lastOffset, all) = await replica.Subscribe(set);
                return (replica, users, databaseId, lastOffset, all);
            }
            catch (ObjectDisposedException e) when (attempt < SubscribeAttempts)
            {
                _logger.ReplicaStoppedUnderSubscriber(replica.Database, e.Message);
            }
        }
    }

    private DatabaseReplica Claim(string database)
    {
        lock (_replicas)
        {
            if (!_replicas.TryGetValue(database, out var replica))
                _replicas[database] = replica = new DatabaseReplica(database, _grains, _reference.Value, _renewEvery,
                    _loggers.CreateLogger<DatabaseReplica>(), this, _leaving.GetValueOrDefault(database) ?? Task.CompletedTask);
            replica.Claim();
            return replica;
        }
    }

    /// <summary>The replica if this gateway has one (without creating it).</summary>
    public Task<DatabaseReplica?> ReplicaIfAny(string database)
    {
        lock (_replicas) return Task.FromResult(_replicas.GetValueOrDefault(database));
    }

    bool IReplicaOwner.TryRetire(DatabaseReplica replica)
    {
        lock (_replicas)
        {
            // Claims are only taken under this lock, from the replica in the dictionary: once it is out, none can come.
            if (!replica.Unclaimed) return false;
            Remove(replica);
            return true;
        }
    }

    void IReplicaOwner.Forget(DatabaseReplica replica)
    {
        lock (_replicas) Remove(replica);
    }

    /// <summary>Under the lock: the next replica of the database waits until this one has left the feed.</summary>
    private void Remove(DatabaseReplica replica)
    {
        var database = replica.Database;
        if (!_replicas.TryGetValue(database, out var current) || current != replica) return;
        _replicas.Remove(database);
        _leaving[database] = replica.Unsubscribed;
        replica.Unsubscribed.ContinueWith(done =>
        {
            lock (_replicas)
                if (_leaving.TryGetValue(database, out var leaving) && leaving == done)
                    _leaving.Remove(database);
        }, TaskScheduler.Default);
    }

    public Task OnChanges(string database, ChangeBatch batch)
    {
        DatabaseReplica? replica;
        lock (_replicas) _replicas.TryGetValue(database, out replica);
        replica?.OnBatch(batch);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        if (_reference.IsValueCreated)
            _grains.DeleteObjectReference<IChangeObserver>(_reference.Value);
    }
}

/// <summary>What a replica asks of the hub that hands it out.</summary>
public interface IReplicaOwner
{
    /// <summary>The replica has no set left: forget it and return true unless a subscriber has claimed it meanwhile.</summary>
    bool TryRetire(DatabaseReplica replica);

    /// <summary>The replica is stopping whatever its claims (its database is gone, or its first load failed).</summary>
    void Forget(DatabaseReplica replica);
}
