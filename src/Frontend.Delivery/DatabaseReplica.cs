using System.Threading.Channels;
using Chat.Api.V1;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend.Delivery;

/// <summary>
/// This gateway's copy of one database, for its subscribers: the user rows with their versions and the last
/// message offset, kept current from the change feed. Everything that touches it (feed batches, subscribes,
/// unsubscribes) runs one at a time, in arrival order, so a new subscriber's snapshot and the updates that
/// follow it meet exactly: nothing missed, nothing twice.
/// <para>
/// Feed batches are numbered; a gap, a new feed epoch (the feed grain was reactivated) or a renewal that
/// finds the feed moved on all trigger a resynchronisation from PostgreSQL: users are diffed against a
/// fresh snapshot and messages are caught up by offset. Loss is repaired, never silent.
/// </para>
/// <para>
/// It stops when its last set goes, unless the hub has claimed it for a subscriber on its way (see
/// <see cref="SubscriptionHub.Subscribe"/>): that decision is the hub's, taken under its lock, so a replica the
/// hub hands out never stops before the subscriber's set is in it. Only a deleted or republished database, or a
/// first load that fails, stops it regardless; its subscribers then start over with a fresh one.
/// </para>
/// <para>
/// Why an engine of its own (the actor loop below): the order that matters here is one database's, across all its
/// subscribers, not one connection's (<see cref="CallOrder"/>) nor one client's queue (<see cref="ClientConnection"/>).
/// The parts: this file the loop and the subscriber side, <c>.Changes</c> applying and sending feed changes,
/// <c>.Joins</c> the sets with joins, <c>.Resync</c> the repair from PostgreSQL.
/// </para>
/// </summary>
public sealed partial class DatabaseReplica
{
    private const int CatchUpChunk = 1000;

    /// <summary>
    /// Feed batches waiting for this replica at most. Past it they are dropped and the replica resynchronises from
    /// PostgreSQL instead, once it has caught up: a database whose delivery cannot keep up costs bounded memory, and the
    /// numbering of batches makes the loss visible, so none is silent.
    /// </summary>
    internal const int MaxQueuedBatches = 10_000;

    private int _queuedBatches;
    private volatile bool _overflowed;

    private readonly string _database;
    private readonly IGrainFactory _grains;
    private readonly IChangeObserver _observer;
    private readonly ILogger _logger;
    private readonly IReplicaOwner _owner;
    private readonly Channel<Func<Task>> _work = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<SubscriptionSet> _sets = [];
    // Sets with join queries: every change is offered to each of them (they are not in the index).
    private readonly List<SubscriptionSet> _joinSets = [];
    private readonly SubscriptionIndex _index = new();
    // A task rather than a CancellationTokenSource: the replica ends itself and has no owner to dispose one.
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _unsubscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _claims;

    private long _databaseId;
    private Dictionary<Identity, VersionedUser> _users = [];
    private long _lastOffset;
    private Guid _epoch;
    private long _nextSequence;
    private bool _goneAtLastRenewal;

    /// <param name="after">
    /// The previous replica of this database leaving the feed: its Unsubscribe must not land after this one's
    /// Subscribe (both name the gateway's one observer), or the feed would forget this replica.
    /// </param>
    public DatabaseReplica(string database, IGrainFactory grains, IChangeObserver observer, TimeSpan renewEvery, ILogger logger, IReplicaOwner owner, Task after)
    {
        (_database, _grains, _observer, _logger, _owner) = (database, grains, observer, logger, owner);
        _ = Task.Run(RunAsync);
        Enqueue(() => Load(after));
        _ = Task.Run(() => RenewAsync(renewEvery));
    }

    public string Database => _database;

    /// <summary>Completes once this replica has left the change feed, after it stopped.</summary>
    public Task Unsubscribed => _unsubscribed.Task;

    /// <summary>The hub's, under its lock: a subscriber is on its way, so the replica must not stop before its set arrives.</summary>
    internal void Claim() => Interlocked.Increment(ref _claims);

    /// <summary>The hub's, under its lock: no subscriber is on its way.</summary>
    internal bool Unclaimed => Volatile.Read(ref _claims) == 0;

    private async Task Load(Task after)
    {
        try
        {
            await after;
            await Resynchronise();
            _loaded.TrySetResult();
        }
        catch (Exception e)
        {
            // Forgotten before the subscribers hear of it, so that their next attempt loads afresh (the database may exist by then).
            _owner.Forget(this);
            Stop();
            _loaded.TrySetException(e);
        }
    }

    /// <summary>Completes when the first snapshot is loaded; faults if the database does not exist or cannot be read.</summary>
    public Task Loaded => _loaded.Task;

    public void OnBatch(ChangeBatch batch)
    {
        if (Interlocked.Increment(ref _queuedBatches) > MaxQueuedBatches)
        {
            Interlocked.Decrement(ref _queuedBatches);
            if (!_overflowed)
                _logger.ReplicaBehind(_database, MaxQueuedBatches);
            _overflowed = true;
            return;
        }
        Enqueue(() =>
        {
            Interlocked.Decrement(ref _queuedBatches);
            return Apply(batch);
        });
    }

    /// <summary>
    /// Registers the set and returns its starting point: the matching user rows now, and the offset up to which
    /// messages belong to the snapshot. Updates after that point wait in the set until <see cref="GoLive"/>.
    /// Only for a subscriber that claimed this replica through the hub; the claim ends here.
    /// </summary>
    /// <remarks>
    /// A set with joins also gets every user row now (<c>AllUsers</c>): its messages' snapshot is evaluated against them.
    /// Its join state is started here, on the work queue, so that the updates after this point apply to exactly it.
    /// </remarks>
    internal Task<(IReadOnlyList<UserRow> Users, long DatabaseId, long LastOffset, IReadOnlyDictionary<Identity, UserRow>? AllUsers)> Subscribe(SubscriptionSet set) =>
        Run(async () =>
        {
            Interlocked.Decrement(ref _claims);
            IReadOnlyList<UserRow> users;
            IReadOnlyDictionary<Identity, UserRow>? all = null;
            if (set.Join is { } join)
            {
                all = _users.ToDictionary(u => u.Key, u => u.Value.Row);
                try
                {
                    users = await join.Start(_grains.GetGrain<ITableReaderGrain>(0), _databaseId, _lastOffset, all.Values.ToList());
                }
                catch
                {
                    if (_sets.Count == 0 && _owner.TryRetire(this)) Stop();
                    throw;
                }
                _joinSets.Add(set);
            }
            else
            {
                _index.Add(set);
                users = _users.Values.Select(u => u.Row).Where(set.Matches).ToList();
            }
            _sets.Add(set);
            ChatMetrics.SubscriptionsChanged(1);
            return (users, _databaseId, _lastOffset, all);
        });

    /// <summary>A subscriber that claimed this replica gives up before registering its set.</summary>
    internal Task Unclaim() =>
        Run(() =>
        {
            Interlocked.Decrement(ref _claims);
            if (_sets.Count == 0 && _owner.TryRetire(this)) Stop();
            return Task.FromResult(0);
        });

    /// <summary>The database and last message offset now: where a join set's preparation reads up to.</summary>
    internal Task<(long DatabaseId, long LastOffset)> Position() => Run(() => Task.FromResult((_databaseId, _lastOffset)));

    /// <summary>The snapshot has been sent: flush what committed meanwhile, then deliver directly.</summary>
    public Task GoLive(SubscriptionSet set) =>
        Run(() =>
        {
            foreach (var update in set.Pending ?? [])
                if (!set.Connection.TrySend(update)) break;
            set.Pending = null;
            return Task.FromResult(0);
        });

    public Task<int> Remove(Func<SubscriptionSet, bool> which) =>
        Run(() =>
        {
            var removed = _sets.RemoveAll(s =>
            {
                if (!which(s)) return false;
                if (s.Join is null) _index.Remove(s);
                else _joinSets.Remove(s);
                s.Connection.ReleaseSubscription(s);
                return true;
            });
            ChatMetrics.SubscriptionsChanged(-removed);
            // Empty is not enough: a subscriber the hub handed this replica to may not have registered yet.
            if (_sets.Count == 0 && _owner.TryRetire(this)) Stop();
            return Task.FromResult(removed);
        });

    /// <summary>On the work queue only, once the hub has forgotten this replica: later work fails or is skipped.</summary>
    private void Stop()
    {
        if (!_stopped.TrySetResult()) return;
        _work.Writer.TryComplete();
        _grains.GetChangeFeedGrain(_database).Unsubscribe(_observer)
            .ContinueWith(t => { _ = t.Exception; _unsubscribed.TrySetResult(); }, TaskScheduler.Default);
    }

    private bool Stopped => _stopped.Task.IsCompleted;

    private static ObjectDisposedException StoppedError(string database) => new($"The replica of {database} has stopped; subscribe again.");

    /// <summary>Work that concerns a live replica only (feed batches, renewals): after a stop it is skipped, never run on stale state.</summary>
    private void Enqueue(Func<Task> work)
    {
        if (!_work.Writer.TryWrite(() => Stopped ? Task.CompletedTask : work()) && !Stopped)
            _logger.ReplicaDroppedWork(_database);
    }

    /// <summary>Work with a caller waiting: after a stop (even one that came while it was queued) the caller gets an ObjectDisposedException.</summary>
    private Task<T> Run<T>(Func<Task<T>> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queued = _work.Writer.TryWrite(async () =>
        {
            if (Stopped)
            {
                done.TrySetException(StoppedError(_database));
                return;
            }
            try { done.TrySetResult(await work()); }
            catch (Exception e) { done.TrySetException(e); }
        });
        if (!queued) done.TrySetException(StoppedError(_database));
        return done.Task;
    }

    private async Task RunAsync()
    {
        await foreach (var work in _work.Reader.ReadAllAsync())
        {
            try
            {
                await work();
                // Other databases' replicas (and everything else) get the thread between two pieces of this one's work,
                // so a database with a backlog cannot hold a core while theirs wait.
                await Task.Yield();
            }
            catch (Exception e)
            {
                _logger.ReplicaUpdateFailed(e, _database);
                try { await Resynchronise(); } catch (Exception again) { _logger.ReplicaResyncFailed(again, _database); }
            }
        }
    }

    private async Task RenewAsync(TimeSpan every)
    {
        using var timer = new PeriodicTimer(every);
        // A stop ends the wait at once; the tick still pending then ends with the timer.
        while (await Task.WhenAny(timer.WaitForNextTickAsync().AsTask(), _stopped.Task) != _stopped.Task)
            Enqueue(async () =>
            {
                var position = await _grains.GetChangeFeedGrain(_database).Subscribe(_observer);
                // A deleted database publishes nothing more: only asking finds it gone. Gone at two renewals in a row, not
                // one, so that a database deleted and published again at once (a redeploy) keeps its connections; their
                // subscriptions then end with a SubscriptionError when the new database's first change arrives.
                if (await _grains.GetDatabaseGrain(_database).Describe() is null)
                {
                    if (_goneAtLastRenewal)
                    {
                        await Resynchronise(); // finds no snapshot, and ends the connections (see there)
                        return;
                    }
                    _goneAtLastRenewal = true;
                }
                else _goneAtLastRenewal = false;
                // A new epoch: the feed was reactivated and may have dropped batches meant for us; or we dropped some.
                if (position.Epoch != _epoch || _overflowed) await Resynchronise();
            });
    }
}
