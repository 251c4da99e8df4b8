using V1 = Chat.Api.V1;

namespace Chat.Benchmarks;

/// <summary>
/// One subscriber's record of the Message table's inserts as its stream delivers them: every message exactly once, offsets
/// right after <c>offsetBase</c> in order (1, 2, 3, ... when it is 0), and per message its arrival and latency. It tells
/// its <see cref="ReceiveLatch"/> when it has all it expects, or the first thing that was wrong.
/// </summary>
public abstract class OrderedReceiver(int expected, ulong offsetBase, ReceiveLatch latch)
{
    private readonly long[] _latencies = new long[expected];
    private readonly long[] _arrivals = new long[expected];

    public int Expected => expected;
    public int Count { get; private set; }
    public long LastArrival { get; private set; }
    public string? Error { get; private set; }
    public ReadOnlySpan<long> Latencies => _latencies.AsSpan(0, Count);

    /// <summary>Arrival time of offset offsetBase + i + 1 at index i.</summary>
    public ReadOnlySpan<long> Arrivals => _arrivals.AsSpan(0, Count);

    /// <summary>Who this is in a failure ("connection 3").</summary>
    protected abstract string Name { get; }

    /// <summary>The clock arrivals are read from; latencies are in its ticks.</summary>
    protected abstract long Now();

    /// <summary>How long <paramref name="row"/> took to arrive at <paramref name="now"/>, from the mark the side under test puts on it.</summary>
    protected abstract long Latency(V1.MessageRow row, long now);

    /// <summary>Anything else to keep of the row accepted as the <paramref name="index"/>-th.</summary>
    protected virtual void Keep(int index, V1.MessageRow row) { }

    /// <summary>Called by the stream's single reader for every message after the subscription is live.</summary>
    public void OnMessage(V1.ServerMessage message)
    {
        var now = Now();
        if (message.MessageCase != V1.ServerMessage.MessageOneofCase.TransactionUpdate)
        {
            Fail($"unexpected {message.MessageCase}");
            return;
        }
        foreach (var table in message.TransactionUpdate.Tables)
        {
            if (table.Table != "Message" || table.InsertedUsers.Count > 0 || table.DeletedUsers.Count > 0)
            {
                Fail($"unexpected rows of table {table.Table}");
                continue;
            }
            foreach (var row in table.InsertedMessages)
                OnRow(row, now);
        }
    }

    private void OnRow(V1.MessageRow row, long now)
    {
        if (Error is not null) return;
        var last = offsetBase + (ulong)Count;
        if (row.Offset != last + 1)
        {
            Fail(row.Offset <= last ? $"offset {row.Offset} again or out of order after {last}" : $"offset {row.Offset} after {last}: {row.Offset - last - 1} missing");
            return;
        }
        if (Count >= expected)
        {
            Fail($"offset {row.Offset}: more messages than the {expected} sent");
            return;
        }
        _latencies[Count] = Latency(row, now);
        _arrivals[Count] = now;
        Keep(Count, row);
        Count++;
        LastArrival = now;
        if (Count == expected) latch.Completed();
    }

    /// <summary>Every delivery's latency over all <paramref name="receivers"/>, sorted, for nearest-rank percentiles.</summary>
    public static long[] SortedLatencies(IEnumerable<OrderedReceiver> receivers)
    {
        var all = receivers.SelectMany(r => r.Latencies.ToArray()).ToArray();
        Array.Sort(all);
        return all;
    }

    public void Fail(string error)
    {
        if (Error is not null) return;
        Error = error;
        latch.Failed($"{Name}: {error}");
    }
}

/// <summary>A round's completion: done when every receiver that expects anything has all of it, failed at the first that fails.</summary>
public sealed class ReceiveLatch
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _remaining;

    public Task AllReceived => _done.Task;

    /// <summary>How many receivers to wait for, once they exist (none: done at once).</summary>
    public void Expect(int receivers)
    {
        _remaining = receivers;
        if (receivers == 0) _done.TrySetResult();
    }

    /// <summary>
    /// Until every receiver has everything (no problems), or one saw something wrong (none here: that receiver's own error
    /// says what), or nothing arrived for 20 s or 3 minutes have passed in all (a "stalled" problem).
    /// </summary>
    public async Task<List<string>> WaitAsync(IReadOnlyCollection<OrderedReceiver> receivers, CancellationToken cancel)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        var progress = -1L;
        while (true)
        {
            try
            {
                await AllReceived.WaitAsync(TimeSpan.FromSeconds(20), cancel);
                return [];
            }
            catch (TimeoutException)
            {
                var now = receivers.Sum(r => (long)r.Count);
                if (now == progress || deadline.Elapsed > TimeSpan.FromMinutes(3))
                    return [$"stalled: {now} of {receivers.Sum(r => (long)r.Expected)} deliveries after the last send"];
                progress = now;
            }
            catch (InvalidOperationException)
            {
                return [];
            }
        }
    }

    internal void Completed()
    {
        if (Interlocked.Decrement(ref _remaining) == 0) _done.TrySetResult();
    }

    internal void Failed(string error) => _done.TrySetException(new InvalidOperationException(error));
}
