using Chat.Storage;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Chat.Grains;

/// <summary>
/// The messages of one database and their only writer. Group commit: calls that arrive while a
/// commit is in flight wait in a queue and go out together in the next single INSERT (one
/// transaction); every caller is answered only after the transaction holding its row committed.
/// Offsets and timestamps are assigned at commit time, in queue order, and rolled back with a failed
/// commit, so they stay gap-free and strictly increasing. Reentrant, so calls keep arriving while a
/// commit awaits PostgreSQL; all state changes happen between awaits on the grain's own scheduler.
/// </summary>
[Reentrant]
public sealed class MessageLogGrain(ChatStore store, ILogger<MessageLogGrain> logger) : Grain, IMessageLogGrain
{
    private sealed record Pending(ReducerCaller Caller, string Text, TaskCompletionSource<ReducerResult> Done);

    /// <summary>Forget the rate-limit buckets of idle identities once this many are held.</summary>
    private const int BucketSweepThreshold = 10_000;

    private string Database => this.GetPrimaryKeyString();
    private DatabaseDescriptor? _database;
    private long _tailFor = -1;
    private long _lastOffset;
    private DateTime _lastSent;
    private readonly Dictionary<Identity, TokenBucket> _buckets = [];
    private List<Pending> _queue = [];
    private Task _committer = Task.CompletedTask;
    private bool _committing;

    public async Task<ReducerResult> SendMessage(ReducerCaller caller, string text)
    {
        var database = _database ?? await Describe();
        if (database is null)
            return ReducerResult.DatabaseNotFound(Database);

        var sender = database.Settings.RequireNameToSend
            ? await GrainFactory.GetUserGrain(Database, caller.Identity).Get()
            : null;
        var bucket = _buckets.GetValueOrDefault(caller.Identity);
        var outcome = ChatReducers.SendMessage(text, sender, database.Settings, ref bucket, DateTime.UtcNow);
        if (database.Settings.MessagesPerSecond > 0)
            _buckets[caller.Identity] = bucket;
        if (!outcome.IsOk)
            return ReducerResult.Fail(outcome.Status, outcome.Error!);

        var pending = new Pending(caller, outcome.Value!, new(TaskCreationOptions.RunContinuationsAsynchronously));
        _queue.Add(pending);
        if (!_committing)
        {
            _committing = true;
            _committer = CommitQueued();
        }
        return await pending.Done.Task;
    }

    public Task DatabaseChanged(DatabaseDescriptor? database)
    {
        Adopt(database);
        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<MessageRow>> Read(long afterOffset, int limit)
    {
        var database = await Describe();
        if (database is null) return [];
        return await store.ReadMessagesAsync(database.Id, afterOffset, Math.Clamp(limit, 1, 10_000));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Shutdown waits for the group in flight and any queued behind it: nothing accepted is dropped.
        await _committer;
    }

    private async Task CommitQueued()
    {
        try
        {
            // Let calls already waiting in this activation's inbox join the first group.
            await Task.Yield();
            while (_queue.Count > 0)
            {
                var group = _queue;
                _queue = [];
                await Commit(group);
            }
            SweepIdleBuckets();
        }
        finally
        {
            _committing = false;
        }
    }

    private async Task Commit(List<Pending> group)
    {
        DatabaseDescriptor? database;
        try
        {
            // Once per group, not per call: picks up settings changes and notices a deleted or republished database.
            database = await Describe();
            if (database is not null && database.Id != _tailFor)
            {
                (_lastOffset, _lastSent) = await store.LoadMessageTailAsync(database.Id);
                _tailFor = database.Id;
            }
        }
        catch (Exception e)
        {
            Fail(group, StorageFailure.ToResult(e, Database, logger, "loading the message log"));
            return;
        }
        if (database is null)
        {
            Fail(group, ReducerResult.DatabaseNotFound(Database));
            return;
        }

        var rows = new MessageRow[group.Count];
        var (offset, sent) = (_lastOffset, _lastSent);
        for (var i = 0; i < group.Count; i++)
        {
            sent = ChatReducers.NextTimestamp(DateTime.UtcNow, sent);
            rows[i] = new MessageRow(++offset, group[i].Caller.Identity, sent, group[i].Text);
        }

        try
        {
            await store.AppendMessagesAsync(database.Id, rows);
        }
        catch (Exception e)
        {
            // The commit may or may not have happened (a lost acknowledgement): reload the tail before the next group.
            _tailFor = -1;
            Fail(group, StorageFailure.ToResult(e, Database, logger, $"committing a group of {group.Count} messages"));
            return;
        }

        (_lastOffset, _lastSent) = (offset, sent);
        for (var i = 0; i < group.Count; i++)
        {
            // The seed's `log::info!("{}", text)`.
            logger.LogInformation("[{Database}] {Text}", Database, rows[i].Text);
            group[i].Done.SetResult(ReducerResult.Committed(rows[i].Sent, rows[i]));
        }
    }

    private void Fail(List<Pending> group, ReducerResult failure)
    {
        var burst = _database?.Settings.MessageBurst ?? ModuleSettings.Default.MessageBurst;
        foreach (var pending in group)
        {
            // A message that was not committed should not count against its sender's rate limit.
            if (_buckets.TryGetValue(pending.Caller.Identity, out var bucket))
            {
                bucket.Refund(burst);
                _buckets[pending.Caller.Identity] = bucket;
            }
            pending.Done.SetResult(failure);
        }
    }

    private async Task<DatabaseDescriptor?> Describe() => Adopt(await GrainFactory.GetDatabaseGrain(Database).Describe());

    private DatabaseDescriptor? Adopt(DatabaseDescriptor? database)
    {
        if (database?.Id != _database?.Id)
            _buckets.Clear();
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
