using Chat.Grains;
using Chat.Storage;

namespace Chat.Tests;

/// <summary>
/// An in-memory stand-in for the message store under <see cref="MessageGroupCommitter"/>: it keeps the committed rows,
/// can hold appends open until the test lets them finish, and fails or loses the answer of an append when told to.
/// Single-threaded, like the committer it serves.
/// </summary>
internal sealed class ScriptedGroupWriter : IMessageGroupWriter
{
    private readonly Queue<TaskCompletionSource> _held = new();
    private readonly List<TaskCompletionSource> _started = [];
    private bool _holding;
    private Exception? _failNext;
    private bool _loseNextAnswer;
    private int _inFlight;

    public ScriptedGroupWriter(int storedBefore) => Reset(storedBefore);

    /// <summary>Rows committed, in commit order.</summary>
    public List<MessageRow> Stored { get; } = [];

    /// <summary>Every group handed to an append or prepare, committed or not.</summary>
    public List<MessageRow[]> Groups { get; } = [];

    public int MostInFlight { get; private set; }
    public int Prepared { get; private set; }
    public int TailLoads { get; private set; }
    public long LastDatabaseId { get; private set; }

    public void Reset(int storedBefore)
    {
        Stored.Clear();
        var sent = DateTime.UtcNow.AddMinutes(-1);
        for (var offset = 1; offset <= storedBefore; offset++)
            Stored.Add(new MessageRow(offset, Identity.Random(), sent = sent.AddMilliseconds(1), $"earlier {offset}"));
    }

    public void HoldAppends() => _holding = true;

    public void ReleaseOneAppend() => _held.Dequeue().SetResult();

    public void ReleaseAppends()
    {
        _holding = false;
        while (_held.Count > 0) ReleaseOneAppend();
    }

    public void FailNextAppend(Exception failure) => _failNext = failure;

    public void CommitThenLoseAnswer() => _loseNextAnswer = true;

    /// <summary>Completes once the <paramref name="count"/>-th append has started.</summary>
    public Task AppendStarted(int count)
    {
        while (_started.Count < count) _started.Add(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        return _started[count - 1].Task;
    }

    public Task<(long LastOffset, DateTime LastSent)> LoadTailAsync(long databaseId)
    {
        TailLoads++;
        LastDatabaseId = databaseId;
        return Task.FromResult(Stored.Count == 0 ? (0L, DateTime.MinValue) : (Stored[^1].Offset, Stored[^1].Sent));
    }

    public async Task AppendAsync(long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages, IReadOnlyList<KeyedCall?>? keys)
    {
        LastDatabaseId = databaseId;
        Groups.Add([.. rows]);
        MostInFlight = Math.Max(MostInFlight, ++_inFlight);
        try
        {
            var appends = Groups.Count;
            _ = AppendStarted(appends); // makes sure its signal exists
            _started[appends - 1].TrySetResult();
            if (_holding)
            {
                var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _held.Enqueue(gate);
                await gate.Task;
            }
            if (_failNext is { } failure)
            {
                _failNext = null;
                throw failure;
            }
            Store(rows);
            if (_loseNextAnswer)
            {
                _loseNextAnswer = false;
                throw new CommitOutcomeUnknownException(new IOException("connection reset after COMMIT"));
            }
        }
        finally
        {
            _inFlight--;
        }
    }

    public Task<IPreparedMessageGroup> PrepareAsync(long databaseId, IReadOnlyList<MessageRow> rows, bool logMessages, IReadOnlyList<KeyedCall?>? keys)
    {
        LastDatabaseId = databaseId;
        Groups.Add([.. rows]);
        Prepared++;
        MostInFlight = Math.Max(MostInFlight, ++_inFlight);
        return Task.FromResult<IPreparedMessageGroup>(new PreparedGroup(this, rows));
    }

    private void Store(IReadOnlyList<MessageRow> rows)
    {
        if (Stored.Count > 0 && rows[0].Offset != Stored[^1].Offset + 1)
            throw new InvalidOperationException($"Offset {rows[0].Offset} after {Stored[^1].Offset} would leave a gap or a duplicate");
        Stored.AddRange(rows);
    }

    /// <summary>Commits only if the group it follows did, as chat.follow_group does.</summary>
    private sealed class PreparedGroup(ScriptedGroupWriter writer, IReadOnlyList<MessageRow> rows) : IPreparedMessageGroup
    {
        private bool _done;

        public Task CommitAsync(long? previousOffset)
        {
            _done = true;
            writer._inFlight--;
            if (previousOffset is { } offset && !writer.Stored.Any(r => r.Offset == offset))
                throw new PreviousGroupNotCommittedException(new InvalidOperationException("the group before did not commit"));
            writer.Store(rows);
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            if (!_done) writer._inFlight--;
            _done = true;
            return ValueTask.CompletedTask;
        }
    }
}
