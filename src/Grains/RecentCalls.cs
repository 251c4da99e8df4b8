namespace Chat.Grains;

/// <summary>
/// The keyed send_message calls of one message log activation: those on their way, so that a retry arriving while the
/// first call is still queued or committing waits for its answer instead of sending again, and the latest committed
/// ones, so that a quick retry needs no lookup. Older keys are found in PostgreSQL. Used on the grain's scheduler only.
/// </summary>
internal sealed class RecentCalls(int capacity = 10_000)
{
    private sealed record Entry(byte[] Fingerprint, Task<ReducerResult> Result);

    private readonly Dictionary<(Identity, string), Entry> _entries = [];
    private readonly Queue<(Identity, string)> _order = new();

    public bool Knows(Identity identity, string key) => _entries.ContainsKey((identity, key));

    public RecentCall? Find(Identity identity, string key) =>
        _entries.TryGetValue((identity, key), out var entry) ? new RecentCall(entry.Fingerprint, entry.Result) : null;

    public void Started(Identity identity, string key, byte[] fingerprint, Task<ReducerResult> result)
    {
        _entries[(identity, key)] = new Entry(fingerprint, result);
        _order.Enqueue((identity, key));
        while (_order.Count > capacity && _order.TryPeek(out var oldest) && (!_entries.TryGetValue(oldest, out var entry) || entry.Result.IsCompleted))
        {
            _order.Dequeue();
            if (entry is not null && _entries.TryGetValue(oldest, out var current) && current == entry) _entries.Remove(oldest);
        }
        _ = ForgetIfNotCommitted(identity, key, result);
    }

    /// <summary>A call that did not commit left nothing to replay: its retry runs again (or finds its commit, if the outcome was unknown).</summary>
    private async Task ForgetIfNotCommitted(Identity identity, string key, Task<ReducerResult> result)
    {
        var answer = await result;
        if (!answer.IsCommitted && _entries.TryGetValue((identity, key), out var entry) && entry.Result == result)
            _entries.Remove((identity, key));
    }

    public void Clear()
    {
        _entries.Clear();
        _order.Clear();
    }
}

internal sealed record RecentCall(byte[] Fingerprint, Task<ReducerResult> Result)
{
    /// <summary>The answer to a retry: the first call's, once it has one, marked as a replay when it committed.</summary>
    public Task<ReducerResult> Answer(string key, byte[] fingerprint)
    {
        if (!Fingerprint.AsSpan().SequenceEqual(fingerprint))
            return Task.FromResult(ReducerResult.Fail(ReducerStatus.InvalidArgument, IdempotencyKey.Mismatch(key, ChatModule.SendMessage)));
        return Replay(Result);
    }

    private static async Task<ReducerResult> Replay(Task<ReducerResult> first) => ChatMetrics.Answered(ChatModule.SendMessage, (await first).AsReplay());
}
