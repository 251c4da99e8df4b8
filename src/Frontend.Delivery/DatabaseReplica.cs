using System.Threading.Channels;
using Chat.Api.V1;
using Chat.Sql;
using Google.Protobuf.WellKnownTypes;
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
/// </summary>
public sealed class DatabaseReplica
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
    private readonly CancellationTokenSource _stopped = new();
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _unsubscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _claims;

    private long _databaseId;
    private Dictionary<Identity, VersionedUser> _users = [];
    private long _lastOffset;
    private Guid _epoch;
    private long _nextSequence;

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
                _logger.LogWarning("Replica of {Database} is {Count} feed batches behind; dropping them and resynchronising once it catches up", _database, MaxQueuedBatches);
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
        if (_stopped.IsCancellationRequested) return;
        _stopped.Cancel();
        _work.Writer.TryComplete();
        _grains.GetChangeFeedGrain(_database).Unsubscribe(_observer)
            .ContinueWith(t => { _ = t.Exception; _unsubscribed.TrySetResult(); }, TaskScheduler.Default);
    }

    private static ObjectDisposedException StoppedError(string database) => new($"The replica of {database} has stopped; subscribe again.");

    /// <summary>Work that concerns a live replica only (feed batches, renewals): after a stop it is skipped, never run on stale state.</summary>
    private void Enqueue(Func<Task> work)
    {
        if (!_work.Writer.TryWrite(() => _stopped.IsCancellationRequested ? Task.CompletedTask : work()) && !_stopped.IsCancellationRequested)
            _logger.LogWarning("Replica of {Database} dropped work after stopping", _database);
    }

    /// <summary>Work with a caller waiting: after a stop (even one that came while it was queued) the caller gets an ObjectDisposedException.</summary>
    private Task<T> Run<T>(Func<Task<T>> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queued = _work.Writer.TryWrite(async () =>
        {
            if (_stopped.IsCancellationRequested)
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
                _logger.LogWarning(e, "Replica of {Database}: an update failed; resynchronising", _database);
                try { await Resynchronise(); } catch (Exception again) { _logger.LogError(again, "Replica of {Database} could not resynchronise", _database); }
            }
        }
    }

    private async Task RenewAsync(TimeSpan every)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopped.Token))
                Enqueue(async () =>
                {
                    var position = await _grains.GetChangeFeedGrain(_database).Subscribe(_observer);
                    // A new epoch: the feed was reactivated and may have dropped batches meant for us; or we dropped some.
                    if (position.Epoch != _epoch || _overflowed) await Resynchronise();
                });
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task Apply(ChangeBatch batch)
    {
        if (batch.Epoch != _epoch || batch.FirstSequence > _nextSequence || batch.DatabaseId != _databaseId)
        {
            _logger.LogInformation("Replica of {Database}: feed position {Epoch}/{Sequence} does not follow {OurEpoch}/{OurSequence}; resynchronising",
                _database, batch.Epoch, batch.FirstSequence, _epoch, _nextSequence);
            await Resynchronise();
            return;
        }
        var skip = (int)(_nextSequence - batch.FirstSequence); // a batch we have (partly) seen already
        if (skip >= batch.Events.Count) return;
        foreach (var change in batch.Events.Skip(skip))
            await ApplyEvent(change);
        _nextSequence = batch.FirstSequence + batch.Events.Count;
    }

    private async Task ApplyEvent(ChangeEvent change)
    {
        if (change.Message is { } message)
        {
            if (message.Offset <= _lastOffset) return;
            if (message.Offset > _lastOffset + 1)
                await CatchUpMessages(message.Offset - 1); // a publish was lost: fill in from PostgreSQL
            _lastOffset = message.Offset;
            Deliver(change, "Message", null, null, message, _index.For(message), set => (false, set.Matches(message)));
            JoinMessage(change, message);
        }
        else if (change.NewUser is { } user)
        {
            var current = _users.GetValueOrDefault(user.Identity);
            if (current is not null && current.Version >= change.UserVersion) return;
            _users[user.Identity] = new VersionedUser(user, change.UserVersion);
            var old = current?.Row;
            Deliver(change, "User", old, user, null, _index.For(old, user), set => (old is not null && set.Matches(old), set.Matches(user)));
            await JoinUser(change, old, user);
        }
        else if (change.OldUser is { } gone)
        {
            // A user row deleted (an anonymous user expired): gone for the sets that saw it, unless a later write recreated it.
            var current = _users.GetValueOrDefault(gone.Identity);
            if (current is null || current.Version >= change.UserVersion) return;
            _users.Remove(gone.Identity);
            Deliver(change, "User", current.Row, null, null, _index.For(current.Row, null), set => (set.Matches(current.Row), false));
            await JoinUser(change, current.Row, null);
        }
    }

    private static TableUpdate Update(string table, UserRow? deleted, UserRow? inserted, MessageRow? message)
    {
        var update = new TableUpdate { Table = table };
        if (deleted is not null) update.DeletedUsers.Add(deleted.ToProto());
        if (inserted is not null) update.InsertedUsers.Add(inserted.ToProto());
        if (message is not null) update.InsertedMessages.Add(message.ToProto());
        return update;
    }

    /// <summary>
    /// Sends the change to every set it concerns. Sets that see the same rows get the very same message object
    /// (built once, never changed afterwards), so a change costs one message per shape, not one per subscriber.
    /// </summary>
    /// <param name="candidates">The sets the change may concern (<see cref="SubscriptionIndex"/>); the others cannot match.</param>
    /// <param name="match">For a set: whether it saw the old row (a delete) and whether it sees the new one (an insert).</param>
    private void Deliver(ChangeEvent change, string table, UserRow? old, UserRow? @new, MessageRow? message,
        IEnumerable<SubscriptionSet> candidates, Func<SubscriptionSet, (bool Was, bool Is)> match)
    {
        var built = new Dictionary<(bool Was, bool Is, bool Own), ServerMessage>();
        foreach (var set in candidates)
        {
            var (was, @is) = match(set);
            if (!was && !@is) continue;
            var own = change.Caller.ConnectionId == set.Connection.Id;
            if (!built.TryGetValue((was, @is, own), out var shared))
            {
                var update = Transaction(change, own);
                update.Tables.Add(Update(table, was ? old : null, @is ? @new : null, @is ? message : null));
                built[(was, @is, own)] = shared = new ServerMessage { TransactionUpdate = update };
            }
            Send(set, shared);
            ChatMetrics.Delivered(change.Timestamp);
        }
    }

    private static TransactionUpdate Transaction(ChangeEvent change, bool own) => new()
    {
        Reducer = change.Reducer,
        CallerIdentity = change.Caller.Identity.ToString(),
        CallerConnectionId = change.Caller.ConnectionId?.ToString() ?? "",
        Timestamp = Timestamp.FromDateTime(change.Timestamp),
        OwnCall = own,
        RequestId = own ? change.Caller.RequestId ?? 0 : 0,
        Status = "committed",
    };

    /// <summary>A message the feed never delivered, read back from PostgreSQL: its caller is its sender, without a connection.</summary>
    private static ChangeEvent CaughtUp(MessageRow row) =>
        new("send_message", new ReducerCaller(row.Sender), DateTime.SpecifyKind(row.Sent, DateTimeKind.Utc), null, null, 0, row);

    /// <summary>Offers a message to every set with joins (<see cref="JoinState.MessageArrived"/>).</summary>
    private void JoinMessage(ChangeEvent change, MessageRow message)
    {
        foreach (var set in _joinSets.ToList())
        {
            try
            {
                if (set.Join!.MessageArrived(message, _users) is { } tables) SendTables(set, change, tables);
            }
            catch (SqlQueryException e)
            {
                DropJoinSet(set, e.Message);
            }
        }
    }

    /// <summary>
    /// Offers a user change to every set with joins (<see cref="JoinState.UserChanged"/>); <see cref="_users"/> already holds it.
    /// A set whose change cannot be worked out (its messages could not be read) is ended with an error rather than left wrong.
    /// </summary>
    private async Task JoinUser(ChangeEvent change, UserRow? old, UserRow? @new)
    {
        if (_joinSets.Count == 0) return;
        var reader = _grains.GetGrain<ITableReaderGrain>(0);
        // Sets with the same query read its messages once per change (those naming :sender, once per subscriber).
        var reads = new Dictionary<(string Text, Identity Caller), IReadOnlyList<MessageRow>>();
        async Task<IReadOnlyList<MessageRow>> ReadMessages(string text, Identity caller)
        {
            var key = (text, text.Contains(":sender", StringComparison.Ordinal) ? caller : default);
            if (reads.TryGetValue(key, out var known)) return known;
            var all = new List<MessageRow>();
            for (var after = 0L; after < _lastOffset;)
            {
                var rows = await reader.ReadMessages(_databaseId, text, caller, after, _lastOffset, CatchUpChunk);
                if (rows.Count == 0) break;
                all.AddRange(rows);
                after = rows[^1].Offset;
            }
            return reads[key] = all;
        }
        foreach (var set in _joinSets.ToList())
        {
            try
            {
                if (await set.Join!.UserChanged(old, @new, _users, ReadMessages) is { } tables) SendTables(set, change, tables);
            }
            catch (Exception e)
            {
                _logger.LogWarning("Replica of {Database}: a join subscription of connection {ConnectionId} could not follow a change: {Reason}",
                    _database, set.Connection.Id, e.GetBaseException().Message);
                DropJoinSet(set, e is SqlQueryException ? e.Message : $"This join subscription could not follow a change ({e.GetBaseException().Message}); subscribe again.");
            }
        }
    }

    private static void SendTables(SubscriptionSet set, ChangeEvent change, TableUpdate[] tables)
    {
        var update = Transaction(change, change.Caller.ConnectionId == set.Connection.Id);
        update.Tables.AddRange(tables);
        Send(set, new ServerMessage { TransactionUpdate = update });
        ChatMetrics.Delivered(change.Timestamp);
    }

    private void DropJoinSet(SubscriptionSet set, string error)
    {
        _sets.Remove(set);
        _joinSets.Remove(set);
        set.Dropped = true;
        set.Connection.ReleaseSubscription(set);
        ChatMetrics.SubscriptionsChanged(-1);
        set.Connection.TrySend(new ServerMessage { SubscriptionError = new SubscriptionError { RequestId = set.RequestId, Error = error } });
    }

    /// <summary>
    /// Live updates go to the connection's bounded queue; while the set's snapshot is still being sent they wait beside it,
    /// bounded the same way: a client that does not read its snapshot would otherwise have every update held for it.
    /// </summary>
    private static void Send(SubscriptionSet set, ServerMessage message)
    {
        if (set.Pending is not { } pending)
        {
            set.Connection.TrySend(message);
            return;
        }
        if (set.Connection.EvictedBecause is not null) return;
        if (pending.Count >= set.Connection.Capacity)
        {
            pending.Clear();
            set.Connection.Evict($"Disconnected: this client could not keep up: its snapshot was still being sent while {set.Connection.Capacity} " +
                                 "updates waited behind it (they were dropped). Read faster, or subscribe to less; then reconnect and subscribe again.");
            return;
        }
        pending.Add(message);
    }

    /// <summary>Messages committed but never delivered by the feed: read them by offset and deliver them in order.</summary>
    private async Task CatchUpMessages(long upto)
    {
        var reader = _grains.GetGrain<ITableReaderGrain>(0);
        // Sets with joins see every message in order, as if the feed had delivered it.
        if (_joinSets.Count > 0)
        {
            for (var after = _lastOffset; after < upto;)
            {
                var rows = await reader.ReadMessages(_databaseId, "SELECT * FROM Message", default, after, upto, CatchUpChunk);
                if (rows.Count == 0) break;
                foreach (var row in rows)
                    JoinMessage(CaughtUp(row), row);
                after = rows[^1].Offset;
            }
        }
        foreach (var set in _sets.Where(s => s.Join is null && s.MessageQueries.Count > 0))
        {
            var seen = new HashSet<long>();
            foreach (var query in set.MessageQueries)
            {
                for (var after = _lastOffset; after < upto;)
                {
                    var rows = await reader.ReadMessages(_databaseId, query.Text, set.Connection.Identity, after, upto, CatchUpChunk);
                    if (rows.Count == 0) break;
                    foreach (var row in rows.Where(r => seen.Add(r.Offset)))
                    {
                        var update = Transaction(CaughtUp(row), own: false);
                        update.Tables.Add(Update("Message", null, null, row));
                        Send(set, new ServerMessage { TransactionUpdate = update });
                    }
                    after = rows[^1].Offset;
                }
            }
        }
        _lastOffset = upto;
    }

    /// <summary>Starts over from PostgreSQL: re-subscribe to the feed, then take a snapshot and deliver the difference.</summary>
    private async Task Resynchronise()
    {
        _overflowed = false;
        var position = await _grains.GetChangeFeedGrain(_database).Subscribe(_observer);
        var snapshot = await _grains.GetGrain<ITableReaderGrain>(0).LoadSnapshot(_database);
        // Offsets of one database only grow: fewer messages than already delivered means its rows were deleted after its
        // descriptor was read. Taking that snapshot would lower the last offset and let old offsets be delivered again.
        if (snapshot is null || (_databaseId != 0 && (snapshot.DatabaseId != _databaseId || snapshot.LastOffset < _lastOffset)))
        {
            if (_databaseId == 0)
                throw new KeyNotFoundException($"Database '{_database}' does not exist.");
            foreach (var set in _sets)
            {
                set.Dropped = true;
                set.Connection.ReleaseSubscription(set);
                set.Connection.TrySend(new ServerMessage { SubscriptionError = new SubscriptionError { RequestId = set.RequestId,
                    Error = $"Database '{_database}' was deleted or published again; subscribe again." } });
            }
            ChatMetrics.SubscriptionsChanged(-_sets.Count);
            _sets.Clear();
            _joinSets.Clear();
            _owner.Forget(this);
            Stop();
            return;
        }

        var fresh = snapshot.Users.ToDictionary(u => u.Row.Identity);
        if (_databaseId != 0)
        {
            var resync = new ChangeEvent("(resync)", new ReducerCaller(default), DateTime.UtcNow, null, null, 0, null);
            // Rows deleted meanwhile (expired anonymous users) are deleted for the sets that saw them. The users change one at
            // a time, so that sets with joins can follow each change against the users as they are at that point.
            foreach (var (identity, before) in _users.ToList())
            {
                if (fresh.ContainsKey(identity)) continue;
                _users.Remove(identity);
                Deliver(resync, "User", before.Row, null, null, _index.For(before.Row, null), set => (set.Matches(before.Row), false));
                await JoinUser(resync, before.Row, null);
            }
            foreach (var (identity, now) in fresh)
            {
                var before = _users.GetValueOrDefault(identity);
                if (before is not null && before.Version >= now.Version) continue;
                _users[identity] = now;
                Deliver(resync, "User", before?.Row, now.Row, null, _index.For(before?.Row, now.Row), set => (before is not null && set.Matches(before.Row), set.Matches(now.Row)));
                await JoinUser(resync, before?.Row, now.Row);
            }
            if (snapshot.LastOffset > _lastOffset)
                await CatchUpMessages(snapshot.LastOffset);
        }
        (_databaseId, _users, _lastOffset, _epoch, _nextSequence) = (snapshot.DatabaseId, fresh, snapshot.LastOffset, position.Epoch, position.NextSequence);
    }
}
