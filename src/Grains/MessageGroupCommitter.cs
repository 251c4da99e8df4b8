using Chat.Storage;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>A message that passed the rules and waits for its group's commit.</summary>
internal sealed record QueuedMessage(ReducerCaller Caller, string Text, KeyedCall? Key);

/// <summary>What the message log does with a group's outcome; called on the grain's scheduler, groups in commit order.</summary>
internal interface IMessageGroupOutcomes
{
    /// <summary>The group committed; its callers have their answers.</summary>
    void Committed(DatabaseDescriptor database, IReadOnlyList<QueuedMessage> group, IReadOnlyList<MessageRow> rows, TimeSpan took);

    /// <summary>Nothing of the group is stored (or, for a lost commit answer, maybe it is); called before its callers are answered.</summary>
    void Failed(IReadOnlyList<QueuedMessage> group, ReducerResult failure);

    /// <summary>Storage failed while writing the group: the commit may or may not have happened.</summary>
    void NotCommitted(int count, ReducerResult failure);

    /// <summary>A group failed in a way that may mean the database was deleted or published again: describe it anew.</summary>
    void DescriptorSuspect();
}

/// <summary>
/// Commit ordering and batching for one message log. Messages added while a group is on its way to PostgreSQL wait and go
/// out together in the next group. Offsets and timestamps are assigned in the order messages were added; groups commit in
/// that order, and a failed group takes the one behind it down with it, so offsets stay gap-free and strictly increasing.
/// Every caller is answered only after the transaction holding its row committed. Not thread-safe: runs on the grain's
/// own scheduler, where all state changes happen between awaits.
/// </summary>
/// <remarks>
/// A group with nothing before it uncommitted is one autocommitted statement, a single round trip. Otherwise it is chained:
/// its rows are inserted in an open transaction and its commit is sent at once, to wait inside PostgreSQL for the group
/// before (see <see cref="MessageStore.PrepareMessagesAsync"/>), so up to <see cref="MaxGroupsInFlight"/> commits go to disk
/// together. As things stand the chain never forms: the loop takes the next group only once this one's call returns, and
/// the one-statement path returns after its commit, so every group finds nothing uncommitted before it (a test states
/// it). Returning before that statement's answer would let commits overlap; that is issue 15's experiment to run.
/// </remarks>
internal sealed class MessageGroupCommitter
{
    private sealed record Pending(QueuedMessage Message, TaskCompletionSource<ReducerResult> Done);

    /// <summary>
    /// How many groups may be in PostgreSQL at once, once chains form (see the remarks above; the "four measured no faster"
    /// of the bench README measured the one-statement path only). Each extra group lengthens a failover. A silo cut off from PostgreSQL
    /// leaves its groups' transactions open, and each chained group behind a dead one holds its lock until the server's
    /// idle-in-transaction timeout (2 s) ends it, one after the other.
    /// </summary>
    public const int MaxGroupsInFlight = 2;

    private static readonly Task<ReducerResult?> Committed = Task.FromResult<ReducerResult?>(null);

    private readonly string _database;
    private readonly IMessageGroupWriter _writer;
    private readonly Func<ValueTask<DatabaseDescriptor?>> _describe;
    private readonly IMessageGroupOutcomes _outcomes;
    private readonly ILogger _logger;
    private readonly GroupCommitLoop<Pending> _loop;

    /// <summary>The database id the tail below was read for; -1 makes the next group read it again.</summary>
    private long _tailFor = -1;
    private long _lastOffset;
    private DateTime _lastSent;

    /// <summary>The commit of the latest group: null once committed, else why not.</summary>
    private Task<ReducerResult?> _previousCommit = Committed;

    /// <summary>The last offset of the latest group: the row a chained group's commit waits for.</summary>
    private long _previousLastOffset;

    /// <summary>Chained groups whose commit may still be on its way, oldest first.</summary>
    private readonly Queue<Task> _inFlight = new();

    /// <param name="describe">The database as it is now; asked before every group (a cache answers it without a hop).</param>
    public MessageGroupCommitter(string database, IMessageGroupWriter writer, Func<ValueTask<DatabaseDescriptor?>> describe,
        IMessageGroupOutcomes outcomes, ILogger logger)
    {
        (_database, _writer, _describe, _outcomes, _logger) = (database, writer, describe, outcomes, logger);
        _loop = new GroupCommitLoop<Pending>(Commit);
    }

    /// <summary>Messages waiting for a group to start.</summary>
    public int Waiting => _loop.Waiting;

    /// <summary>Uncommitted chained groups; never more than <see cref="MaxGroupsInFlight"/>.</summary>
    public int ChainedInFlight => _inFlight.Count;

    /// <summary>Queues a message; the task completes once its group committed (with its row) or failed (with why).</summary>
    public Task<ReducerResult> Add(QueuedMessage message)
    {
        var pending = new Pending(message, new(TaskCreationOptions.RunContinuationsAsynchronously));
        _loop.Add(pending);
        return pending.Done.Task;
    }

    /// <summary>Completes once everything added so far is committed or failed: nothing accepted is dropped.</summary>
    public async Task DrainAsync()
    {
        await _loop.Drained;
        await _previousCommit; // each group's commit waits for the one before
    }

    /// <summary>
    /// Takes one group from the loop: assigns its offsets and timestamps and gets its rows into PostgreSQL. Returns once
    /// the next group may start: after this one's first round trip, and once fewer than <see cref="MaxGroupsInFlight"/>
    /// groups are uncommitted.
    /// </summary>
    private async Task Commit(List<Pending> group)
    {
        var previous = _previousCommit;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        DatabaseDescriptor? database;
        try
        {
            // The insert's existence check stops any write for a database deleted since it was described.
            database = await _describe();
            if (database is not null && database.Id != _tailFor)
            {
                await previous; // the tail is read once nothing is left uncommitted
                (_lastOffset, _lastSent) = await _writer.LoadTailAsync(database.Id);
                _tailFor = database.Id;
                previous = Committed; // whatever the group before did is in the tail now, failed or not
            }
        }
        catch (Exception e)
        {
            Fail(group, StorageFailure.ToResult(e, _database, _logger, "loading the message log"));
            await previous;
            return;
        }
        if (database is null)
        {
            Fail(group, ReducerResult.DatabaseNotFound(_database));
            await previous;
            return;
        }

        var rows = new MessageRow[group.Count];
        var (offset, sent) = (_lastOffset, _lastSent);
        for (var i = 0; i < group.Count; i++)
        {
            sent = ChatReducers.NextTimestamp(DateTime.UtcNow, sent);
            rows[i] = new MessageRow(++offset, group[i].Message.Caller.Identity, sent, group[i].Message.Text);
        }
        (_lastOffset, _lastSent) = (offset, sent); // taken; a failure anywhere below makes the next group reload the tail
        var keys = group.Any(p => p.Message.Key is not null) ? group.Select(p => p.Message.Key).ToList() : null;

        if (previous.IsCompletedSuccessfully && previous.Result is null)
        {
            try
            {
                await _writer.AppendAsync(database.Id, rows, database.Settings.LogMessages, keys);
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

        IPreparedMessageGroup prepared;
        try
        {
            prepared = await _writer.PrepareAsync(database.Id, rows, database.Settings.LogMessages, keys);
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
    private async Task<ReducerResult?> Finish(Task<ReducerResult?> previous, long previousOffset, IPreparedMessageGroup prepared,
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
                _tailFor = -1;
                _outcomes.DescriptorSuspect();
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
        // Committed, so the group before did too (or at least its rows are there): answer after it, in order.
        await previous;
        Answer(database, group, rows, started);
        return null;
    }

    private void Answer(DatabaseDescriptor database, List<Pending> group, MessageRow[] rows, long started)
    {
        foreach (var (pending, row) in group.Zip(rows))
            pending.Done.SetResult(ReducerResult.Committed(row.Sent, row));
        _outcomes.Committed(database, group.ConvertAll(p => p.Message), rows, System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    /// <summary>
    /// The commit may or may not have happened (a lost acknowledgement): the next group reloads the tail, and the
    /// descriptor too, in case the database was deleted or published again.
    /// </summary>
    private ReducerResult NotCommitted(List<Pending> group, Exception e)
    {
        _tailFor = -1;
        _outcomes.DescriptorSuspect();
        var failure = StorageFailure.ToResult(e, _database, _logger, $"committing a group of {group.Count} messages");
        Fail(group, failure);
        _outcomes.NotCommitted(group.Count, failure);
        return failure;
    }

    private void Fail(List<Pending> group, ReducerResult failure)
    {
        _outcomes.Failed(group.ConvertAll(p => p.Message), failure);
        foreach (var pending in group)
            pending.Done.SetResult(failure);
    }
}
