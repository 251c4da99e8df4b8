using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Gateway;

/// <summary>
/// The gateway's side of the change feeds: one observer for the whole gateway, one replica per database that
/// has subscribers here. Each committed change reaches this gateway once and is filtered here for its clients.
/// </summary>
public sealed class SubscriptionHub : IChangeObserver, IDisposable
{
    private readonly IGrainFactory _grains;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeSpan _renewEvery;
    private readonly Dictionary<string, DatabaseReplica> _replicas = [];
    private readonly Lazy<IChangeObserver> _reference;

    public SubscriptionHub(IGrainFactory grains, IOptions<GatewayOptions> options, ILoggerFactory loggers)
    {
        (_grains, _loggers) = (grains, loggers);
        _logger = loggers.CreateLogger<SubscriptionHub>();
        _renewEvery = options.Value.FeedRenewInterval;
        _reference = new(() => grains.CreateObjectReference<IChangeObserver>(this));
    }

    public int Replicas { get { lock (_replicas) return _replicas.Count; } }

    /// <summary>The replica of <paramref name="database"/>, created (and loaded) on first use.</summary>
    public async Task<DatabaseReplica> Replica(string database)
    {
        DatabaseReplica replica;
        lock (_replicas)
        {
            if (!_replicas.TryGetValue(database, out replica!))
                _replicas[database] = replica = new DatabaseReplica(database, _grains, _reference.Value, _renewEvery,
                    _loggers.CreateLogger<DatabaseReplica>(), Forget);
        }
        try
        {
            await replica.Loaded;
        }
        catch
        {
            Forget(replica);
            throw;
        }
        return replica;
    }

    /// <summary>The replica if this gateway has one (without creating it).</summary>
    public Task<DatabaseReplica?> ReplicaIfAny(string database)
    {
        lock (_replicas) return Task.FromResult(_replicas.GetValueOrDefault(database));
    }

    private void Forget(DatabaseReplica replica)
    {
        lock (_replicas)
            if (_replicas.TryGetValue(replica.Database, out var current) && current == replica)
                _replicas.Remove(replica.Database);
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
