using Chat.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Chat.Grains;

/// <summary>
/// The messages of one database and their only writer. Group commit: calls that arrive while a
/// group is on its way to PostgreSQL wait in a queue and go out together in the next single INSERT;
/// every caller is answered only after the transaction holding its row committed. Offsets and
/// timestamps are assigned in queue order; groups commit in that order, and a failed group takes the
/// one behind it down with it, so offsets stay gap-free and strictly increasing. Reentrant, so calls
/// keep arriving while a commit awaits PostgreSQL; all state changes happen between awaits on the
/// grain's own scheduler.
/// </summary>
[Reentrant]
public sealed class MessageLogGrain : Grain, IMessageLogGrain
{
    private sealed record Pending(ReducerCaller Caller, string Text, KeyedCall? Key, TaskCompletionSource<ReducerResult> Done);

    /// <summary>Forget the rate-limit buckets of idle identities once this many are held.</summary>
    private const int BucketSweepThreshold = 10_000;

    private string Database => this.GetPrimaryKeyString();
    private DatabaseDescriptor? _database;
    private DateTime _described;
    private static readonly TimeSpan DescriptorMaxAge = TimeSpan.FromSeconds(1);
    private long _tailFor = -1;
    private long _lastOffset;
    private DateTime _lastSent;
    private readonly Dictionary<Identity, TokenBucket> _buckets = [];
    private TokenBucket _databaseBucket;
    private readonly MessageStore _store;
    private readonly ReducerCallStore _callStore;
    private readonly ILogger<MessageLogGrain> _logger;
    private readonly GroupCommitLoop<Pending> _commits;
    private readonly LogPruner _pruner;
    private readonly RecentCalls _recentCalls = new();
    private UnknownDatabaseGrace? _grace;

    public MessageLogGrain(MessageStore store, ReducerCallStore callStore, ModuleLogStore logStore, IOptions<ModuleLogOptions> logOptions,
        ILogger<MessageLogGrain> logger)
    {
        (_store, _callStore, _logger) = (store, callStore, logger);
        _commits = new GroupCommitLoop<Pending>(Commit);
        _pruner = new LogPruner(logStore, logOptions.Value, logger);
    }

    /// <summary>Released when the batch before has joined the commit queue: batches join it in the order they arrived.</summary>
    private Task _admitted = Task.CompletedTask;

    public async Task<ReducerResult[]> SendMessages(IReadOnlyList<MessageToSend> messages)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // The place in line is taken before any await: lookups of different batches may finish in any order, but their
        // messages join the commit queue in the order the batches (and within one, the messages) arrived.
        var before = _admitted;
        var admitted = new TaskCompletionSource();
        _admitted = admitted.Task;
        var results = new Task<ReducerResult>[messages.Count];
        try
        {
            var database = _database ?? await Describe();
            if (database is null) (_grace ??= new UnknownDatabaseGrace(this, () => _database is null)).Unknown();
            var recorded = database is null ? null : FindRecordedCalls(database, messages); // runs beside the sender lookup
            // One lookup per sender, however many of its messages the batch holds.
            var senders = database is { Settings.RequireNameToSend: true }
                ? await LookUp(messages.Select(m => m.Caller.Identity).Distinct())
                : null;
            var (earlier, lookupFailure) = await Recorded(recorded);
            await before;
            for (var i = 0; i < results.Length; i++)
                results[i] = database is null
                    ? Task.FromResult(ReducerResult.DatabaseNotFound(Database))
                    : AdmitOnce(database, messages[i], earlier, lookupFailure, senders?[messages[i].Caller.Identity]);
        }
        finally
        {
            admitted.SetResult();
        }
        return await Task.WhenAll(results.Select(result => Measured(result, started)));
    }

    private async Task<Dictionary<Identity, UserRow?>> LookUp(IEnumerable<Identity> identities)
    {
        var lookups = identities.Select(async identity => (identity, await GrainFactory.GetUserGrain(Database, identity).Get()));
        return (await Task.WhenAll(lookups)).ToDictionary(l => l.identity, l => l.Item2);
    }

    private static async Task<ReducerResult> Measured(Task<ReducerResult> send, long started)
    {
        var result = await send;
        ChatMetrics.Reducer(ChatModule.SendMessage, result.Status, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    /// <summary>
    /// Keyed calls this activation has not seen, looked up in PostgreSQL: a retry of a call that committed before (under an
    /// earlier activation, or with an answer that never reached the client) finds its record there.
    /// </summary>
    private Task<Dictionary<(Identity Identity, string Key), RecordedCall>>? FindRecordedCalls(DatabaseDescriptor database, IReadOnlyList<MessageToSend> messages)
    {
        var unknown = messages.Where(m => m.Caller.IdempotencyKey is { } key && !_recentCalls.Knows(m.Caller.Identity, key))
            .Select(m => (m.Caller.Identity, m.Caller.IdempotencyKey!)).Distinct().ToList();
        return unknown.Count == 0 ? null : _callStore.FindCallsAsync(database.Id, unknown);
    }

    /// <summary>
    /// A keyed message whose key was already used gets the first call's answer (waiting for it if that call is still on its
    /// way) and is not sent again; any other message goes through the rules. Runs without awaiting, in admission order, so
    /// two calls with one key in the same or consecutive batches cannot both be admitted.
    /// </summary>
    private Task<ReducerResult> AdmitOnce(DatabaseDescriptor database, MessageToSend message, Dictionary<(Identity, string), RecordedCall>? recorded,
        ReducerResult? lookupFailure, UserRow? sender)
    {
        var caller = message.Caller;
        if (caller.IdempotencyKey is not { } key)
            return Admit(database, caller, message.Text, null, sender);
        var fingerprint = IdempotencyKey.Fingerprint(ChatModule.SendMessage, message.Text);
        if (_recentCalls.Find(caller.Identity, key) is { } recent)
            return recent.Answer(key, fingerprint);
        if (recorded?.GetValueOrDefault((caller.Identity, key)) is { } first)
            return Task.FromResult(ChatMetrics.Answered(ChatModule.SendMessage, first.Answer(key, ChatModule.SendMessage, fingerprint)));
        if (lookupFailure is not null)
            return Task.FromResult(lookupFailure);
        var result = Admit(database, caller, message.Text, new KeyedCall(key, fingerprint, default), sender);
        _recentCalls.Started(caller.Identity, key, fingerprint, result);
        return result;
    }

    /// <summary>Unkeyed messages go ahead when the lookup fails; keyed ones cannot know whether they ran before.</summary>
    private async Task<(Dictionary<(Identity, string), RecordedCall>?, ReducerResult?)> Recorded(Task<Dictionary<(Identity Identity, string Key), RecordedCall>>? lookup)
    {
        if (lookup is null) return (null, null);
        try
        {
            return (await lookup, null);
        }
        catch (Exception e)
        {
            return (null, StorageFailure.ToResult(e, Database, _logger, "looking up idempotency keys"));
        }
    }


    /// <summary>Applies the rules to one message and, if it passes, queues it for the next group commit.</summary>
    private Task<ReducerResult> Admit(DatabaseDescriptor database, ReducerCaller caller, string text, KeyedCall? key, UserRow? sender)
    {
        var bucket = _buckets.GetValueOrDefault(caller.Identity);
        var outcome = ChatReducers.SendMessage(text, sender, database.Settings, ref bucket, ref _databaseBucket, DateTime.UtcNow);
        if (database.Settings.RateLimited)
            _buckets[caller.Identity] = bucket;
        if (!outcome.IsOk)
        {
            GrainFactory.GetModuleLogGrain(Database).Write(ModuleLogLevel.Error, ChatModule.SendMessage, outcome.Error!, caller.Identity).Ignore();
            return Task.FromResult(ReducerResult.Fail(outcome.Status, outcome.Error!));
        }

        var pending = new Pending(caller, outcome.Value!, key, new(TaskCreationOptions.RunContinuationsAsynchronously));
        _commits.Add(pending);
        return pending.Done.Task;
    }

    public Task DatabaseChanged(DatabaseDescriptor? database)
    {
        Adopt(database);
        return Task.CompletedTask;
    }

    // Shutdown waits for the groups in flight and any queued behind them: nothing accepted is dropped.
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await _commits.Drained;
        await _previousCommit; // each group's commit waits for the one before
        await _publishing;
    }

    /// <summary>The commit of the latest group: null once committed, else why not.</summary>
    private Task<ReducerResult?> _previousCommit = Committed;

    /// <summary>The last offset of the latest group: the row a chained group's commit waits for.</summary>
    private long _previousLastOffset;

    private static readonly Task<ReducerResult?> Committed = Task.FromResult<ReducerResult?>(null);

    /// <summary>Chained groups whose commit may still be on its way, oldest first.</summary>
    private readonly Queue<Task> _inFlight = new();

    /// <summary>
    /// How many groups may be in PostgreSQL at once. Two, as before chaining: four measured no faster (the stack's CPU bounds
    /// throughput, not the commit pipeline), and each extra group lengthens a failover. A silo cut off from PostgreSQL
    /// leaves its groups' transactions open, and each chained group behind a dead one holds its lock until the server's
    /// idle-in-transaction timeout (2 s) ends it, one after the other.
    /// </summary>
    private const int MaxGroupsInFlight = 2;

    /// <summary>The latest group's hand-off to the change feed; each waits for the one before, so the feed sees offset order.</summary>
    private Task _publishing = Task.CompletedTask;

    /// <summary>
    /// Takes one group from the loop: assigns its offsets and timestamps and gets its rows into PostgreSQL. With nothing
    /// before it uncommitted, the group is one autocommitted statement, a single round trip. Otherwise it is chained: its
    /// rows are inserted in an open transaction and its commit is sent at once, to wait inside PostgreSQL for the group
    /// before (see <see cref="MessageStore.PrepareMessagesAsync"/>), so up to <see cref="MaxGroupsInFlight"/> commits go to
    /// disk together. Returns once the next group may start: after this one's first round trip, and once fewer than
    /// <see cref="MaxGroupsInFlight"/> groups are uncommitted.
    /// </summary>
    private async Task Commit(List<Pending> group)
    {
        var previous = _previousCommit;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        DatabaseDescriptor? database;
        try
        {
            // Settings changes and deletes are announced by the database grain; re-reading now and then covers a lost
            // announcement, and the insert's existence check stops any write for a database that is gone.
            database = _database is not null && DateTime.UtcNow - _described < DescriptorMaxAge ? _database : await Describe();
            if (database is not null && database.Id != _tailFor)
            {
                await previous; // the tail is read once nothing is left uncommitted
                (_lastOffset, _lastSent) = await _store.LoadMessageTailAsync(database.Id);
                _tailFor = database.Id;
                previous = Committed; // whatever the group before did is in the tail now, failed or not
            }
        }
        catch (Exception e)
        {
            Fail(group, StorageFailure.ToResult(e, Database, _logger, "loading the message log"));
            await previous;
            return;
        }
        if (database is null)
        {
            Fail(group, ReducerResult.DatabaseNotFound(Database));
            await previous;
            return;
        }

        var rows = new MessageRow[group.Count];
        var (offset, sent) = (_lastOffset, _lastSent);
        for (var i = 0; i < group.Count; i++)
        {
            sent = ChatReducers.NextTimestamp(DateTime.UtcNow, sent);
            rows[i] = new MessageRow(++offset, group[i].Caller.Identity, sent, group[i].Text);
        }
        (_lastOffset, _lastSent) = (offset, sent); // taken; a failure anywhere below makes the next group reload the tail
        var keys = group.Any(p => p.Key is not null) ? group.Select(p => p.Key).ToList() : null;

        if (previous.IsCompletedSuccessfully && previous.Result is null)
        {
            try
            {
                await _store.AppendMessagesAsync(database.Id, rows, database.Settings.LogMessages, keys);
            }
            catch (Exception e)
            {
                NotCommitted(group, e);
                return;
            }
            (_previousCommit, _previousLastOffset) = (Committed, offset);
            Answer(database, group, rows, started);
            return;
        }

        PreparedMessages prepared;
        try
        {
            prepared = await _store.PrepareMessagesAsync(database.Id, rows, database.Settings.LogMessages, keys);
        }
        catch (Exception e)
        {
            await previous;
            NotCommitted(group, e);
            return;
        }
        var finish = Finish(previous, _previousLastOffset, prepared, database, group, rows, started);
        (_previousCommit, _previousLastOffset) = (finish, offset);
        _inFlight.Enqueue(finish);
        while (_inFlight.Count >= MaxGroupsInFlight || _inFlight.TryPeek(out var oldest) && oldest.IsCompleted)
            await _inFlight.Dequeue();
    }

    /// <summary>Commits a prepared group behind the group before, then answers its callers.</summary>
    private async Task<ReducerResult?> Finish(Task<ReducerResult?> previous, long previousOffset, PreparedMessages prepared,
        DatabaseDescriptor database, List<Pending> group, MessageRow[] rows, long started)
    {
        await using (prepared)
        {
            try
            {
                await prepared.CommitAsync(previous.IsCompletedSuccessfully && previous.Result is null ? null : previousOffset);
            }
            catch (PreviousGroupNotCommittedException)
            {
                // Rolled back: committing it would leave a gap where the failed group's offsets were. For these callers
                // nothing was stored, whatever became of the group before.
                var earlier = await previous;
                (_tailFor, _described) = (-1, default);
                var failure = earlier is null || earlier.Status == ReducerStatus.Unavailable
                    ? ReducerResult.Fail(ReducerStatus.Unavailable, "Storage is unavailable, nothing was changed; try again shortly (the group before this one failed)")
                    : earlier;
                Fail(group, failure);
                return failure;
            }
            catch (Exception e)
            {
                await previous;
                return NotCommitted(group, e);
            }
        }
        // Committed, so the group before did too (or at least its rows are there): answer and publish after it, in order.
        await previous;
        Answer(database, group, rows, started);
        return null;
    }

    /// <summary>A group committed: its callers get their offsets, subscribers the rows.</summary>
    private void Answer(DatabaseDescriptor database, List<Pending> group, MessageRow[] rows, long started)
    {
        ChatMetrics.GroupCommit(rows.Length, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        foreach (var (pending, row) in group.Zip(rows))
            pending.Done.SetResult(ReducerResult.Committed(row.Sent, row));
        _publishing = Publish(_publishing, database.Id, group, rows);
        if (database.Settings.LogMessages)
        {
            GrainFactory.GetModuleLogGrain(Database).Appended().Ignore();
            _pruner.Wrote(database.Id, rows.Length);
        }
        if (_commits.Waiting == 0)
            SweepIdleBuckets();
    }

    /// <summary>
    /// The commit may or may not have happened (a lost acknowledgement): the next group reloads the tail, and the
    /// descriptor too, in case the database was deleted or published again.
    /// </summary>
    private ReducerResult NotCommitted(List<Pending> group, Exception e)
    {
        (_tailFor, _described) = (-1, default);
        var failure = StorageFailure.ToResult(e, Database, _logger, $"committing a group of {group.Count} messages");
        Fail(group, failure);
        GrainFactory.GetModuleLogGrain(Database).Write(ModuleLogLevel.Error, ChatModule.SendMessage, $"{group.Count} messages not committed: {failure.Error}").Ignore();
        return failure;
    }

    private async Task Publish(Task before, long databaseId, List<Pending> group, MessageRow[] rows)
    {
        await before;
        try
        {
            await GrainFactory.GetChangeFeedGrain(Database).Publish(databaseId,
                group.Zip(rows).Select(p => new ChangeEvent(ChatModule.SendMessage, p.First.Caller, p.Second.Sent, null, null, 0, p.Second)).ToList());
        }
        catch (Exception e)
        {
            _logger.LogWarning("Could not publish messages {First}..{Last} of {Database}: {Reason}; subscribers catch up by offset",
                rows[0].Offset, rows[^1].Offset, Database, e.GetBaseException().Message);
        }
    }

    private void Fail(List<Pending> group, ReducerResult failure)
    {
        var burst = _database?.Settings.MessageBurst ?? ModuleSettings.Default.MessageBurst;
        foreach (var pending in group)
        {
            // A message that was not committed should not count against its sender's rate limit, nor the database's.
            if (_buckets.TryGetValue(pending.Caller.Identity, out var bucket))
            {
                bucket.Refund(burst);
                _buckets[pending.Caller.Identity] = bucket;
            }
            _databaseBucket.Refund(_database?.Settings.DatabaseMessageBurst ?? ModuleSettings.Default.DatabaseMessageBurst);
            pending.Done.SetResult(failure);
        }
    }

    private async Task<DatabaseDescriptor?> Describe()
    {
        var database = Adopt(await GrainFactory.GetDatabaseGrain(Database).Describe());
        _described = DateTime.UtcNow;
        return database;
    }

    private DatabaseDescriptor? Adopt(DatabaseDescriptor? database)
    {
        if (database?.Id != _database?.Id)
        {
            _buckets.Clear();
            _databaseBucket = default;
            _recentCalls.Clear();
        }
        return _database = database;
    }

    private void SweepIdleBuckets()
    {
        if (_buckets.Count < BucketSweepThreshold || _database is not { } database) return;
        var now = DateTime.UtcNow;
        foreach (var (identity, bucket) in _buckets)
            if (bucket.IsFullAt(now, database.Settings.MessagesPerSecond, database.Settings.MessageBurst))
                _buckets.Remove(identity);
    }
}
