using Chat.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Chat.Grains;

/// <summary>
/// The messages of one database and their only writer. Each batch is loaded (the descriptor, senders, recorded idempotency
/// keys), decided (the module's rules, rate limits) and committed: <see cref="MessageGroupCommitter"/> owns the ordering
/// and group commit, and answers every caller only after the transaction holding its row committed; committed groups are
/// then published to the change feed in offset order. Reentrant, so calls keep arriving while a commit awaits PostgreSQL;
/// all state changes happen between awaits on the grain's own scheduler.
/// </summary>
[Reentrant]
public sealed class MessageLogGrain : Grain, IMessageLogGrain, IMessageGroupOutcomes
{
    /// <summary>Forget the rate-limit buckets of idle identities once this many are held.</summary>
    private const int BucketSweepThreshold = 10_000;

    private string Database => this.GetPrimaryKeyString();
    /// <summary>The database as last seen; the rate buckets and recent calls below belong to its id.</summary>
    private DatabaseDescriptor? _database;
    private readonly Dictionary<Identity, TokenBucket> _buckets = [];
    private TokenBucket _databaseBucket;
    private readonly MessageStore _store;
    private readonly ReducerCallStore _callStore;
    private readonly DatabaseDescriptorCache _descriptors;
    private readonly ILogger<MessageLogGrain> _logger;
    private readonly LogPruner _pruner;
    private readonly RecentCalls _recentCalls = new();
    private UnknownDatabaseGrace? _grace;
    private MessageGroupCommitter? _commits;

    /// <summary>The latest group's hand-off to the change feed; each waits for the one before, so the feed sees offset order.</summary>
    private Task _publishing = Task.CompletedTask;

    public MessageLogGrain(MessageStore store, ReducerCallStore callStore, ModuleLogStore logStore, DatabaseDescriptorCache descriptors,
        IOptions<ModuleLogOptions> logOptions, ILogger<MessageLogGrain> logger)
    {
        (_store, _callStore, _descriptors, _logger) = (store, callStore, descriptors, logger);
        _pruner = new LogPruner(logStore, logOptions.Value, logger);
    }

    private MessageGroupCommitter Commits =>
        _commits ??= new MessageGroupCommitter(Database, new StoreMessageGroupWriter(_store), Describe, this, _logger);

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
            var database = await Describe();
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
        var lookups = identities.Select(async identity => (identity, await GrainFactory.GetUserGrain(Database, identity).Read()));
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

        return Commits.Add(new QueuedMessage(caller, outcome.Value!, key));
    }

    // Shutdown waits for the groups in flight and any queued behind them: nothing accepted is dropped.
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_commits is not null) await _commits.DrainAsync();
        await _publishing;
    }

    /// <summary>A group committed: subscribers get the rows, in offset order.</summary>
    void IMessageGroupOutcomes.Committed(DatabaseDescriptor database, IReadOnlyList<QueuedMessage> group, IReadOnlyList<MessageRow> rows, TimeSpan took)
    {
        ChatMetrics.GroupCommit(rows.Count, took.TotalMilliseconds);
        _publishing = Publish(_publishing, database.Id, group, rows);
        if (database.Settings.LogMessages)
        {
            GrainFactory.GetModuleLogGrain(Database).Appended().Ignore();
            _pruner.Wrote(database.Id, rows.Count);
        }
        if (Commits.Waiting == 0)
            SweepIdleBuckets();
    }

    void IMessageGroupOutcomes.NotCommitted(int count, ReducerResult failure) =>
        GrainFactory.GetModuleLogGrain(Database).Write(ModuleLogLevel.Error, ChatModule.SendMessage, $"{count} messages not committed: {failure.Error}").Ignore();

    void IMessageGroupOutcomes.DescriptorSuspect() => _descriptors.Forget(Database);

    private async Task Publish(Task before, long databaseId, IReadOnlyList<QueuedMessage> group, IReadOnlyList<MessageRow> rows)
    {
        await before;
        try
        {
            await GrainFactory.GetChangeFeedGrain(Database).Publish(databaseId,
                group.Zip(rows).Select(p => new ChangeEvent(ChatModule.SendMessage, p.First.Caller, p.Second.Sent, null, null, 0, p.Second)).ToList());
        }
        catch (Exception e)
        {
            _logger.MessagesNotPublished(rows[0].Offset, rows[^1].Offset, Database, e.GetBaseException().Message);
        }
    }

    /// <summary>Called before the group's callers are answered.</summary>
    void IMessageGroupOutcomes.Failed(IReadOnlyList<QueuedMessage> group, ReducerResult failure)
    {
        var burst = _database?.Settings.MessageBurst ?? ModuleSettings.Default.MessageBurst;
        foreach (var message in group)
        {
            // A message that was not committed should not count against its sender's rate limit, nor the database's.
            if (_buckets.TryGetValue(message.Caller.Identity, out var bucket))
            {
                bucket.Refund(burst);
                _buckets[message.Caller.Identity] = bucket;
            }
            _databaseBucket.Refund(_database?.Settings.DatabaseMessageBurst ?? ModuleSettings.Default.DatabaseMessageBurst);
        }
    }

    /// <summary>The database now (see <see cref="DatabaseDescriptorCache"/>); a new incarnation starts with fresh rate limits.</summary>
    private async ValueTask<DatabaseDescriptor?> Describe() => Adopt(await _descriptors.Get(Database));

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
