using System.Collections.Concurrent;

namespace Chat.Frontend.Delivery;

/// <summary>
/// send_message as this gateway makes it: concurrent sends to the same database, from any connection or unary call, go to
/// its message log grain together in one <see cref="IMessageLogGrain.SendMessages"/> call. The grain commits them in one
/// group anyway; coalescing here saves an Orleans message, a scheduling turn and a response per message. A send that
/// finds its database idle goes out at once, so a lone client waits for nothing.
/// <para>
/// Why an engine of its own: it is the only place that gathers calls across connections (per database, for the grain);
/// <see cref="CallOrder"/> orders one connection's calls, a <see cref="DatabaseReplica"/> orders one database's deliveries,
/// and a <see cref="ClientConnection"/> bounds what waits for one client. It keeps each connection's sends in order itself
/// because two of its calls may be in flight at once.
/// </para>
/// </summary>
public sealed class MessageSender(IGrainFactory grains)
{
    /// <summary>Calls per database in flight at once: one being committed while the next gathers and travels.</summary>
    private const int MaxInFlight = 2;

    /// <summary>Keeps one grain call (and the group it becomes) to a size PostgreSQL commits in a few milliseconds.</summary>
    private const int MaxBatch = 1000;

    // A lane is a grain reference and a short list, kept only while the database has sends waiting or on their way: a
    // client naming thousands of databases (most of them not existing) leaves nothing behind here.
    private readonly ConcurrentDictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private readonly IGrainFactory _grains = grains;

    /// <summary>Databases with sends waiting or in flight on this gateway.</summary>
    public int ActiveLanes => _lanes.Count;

    public Task<ReducerResult> Send(string database, ReducerCaller caller, string text)
    {
        var message = new MessageToSend(caller, text);
        while (true)
        {
            var lane = _lanes.GetOrAdd(database, static (name, owner) => new Lane(owner, name, owner._grains.GetMessageLogGrain(name)), this);
            if (lane.TrySend(message) is { } sent) return sent;
            // That lane emptied and retired between the lookup and the send; the next lookup makes a new one.
        }
    }

    private sealed class Lane(MessageSender owner, string database, IMessageLogGrain log)
    {
        private readonly Lock _gate = new();
        private List<(MessageToSend Message, TaskCompletionSource<ReducerResult> Done)> _waiting = [];
        private int _inFlight;
        private bool _retired;

        /// <summary>
        /// Connections with a message in a call on its way. Two calls in flight may reach the grain in either order, so a
        /// connection's next messages wait for the call holding its earlier ones: its messages keep the order it sent them.
        /// </summary>
        private readonly HashSet<ConnectionId> _travelling = [];

        /// <summary>Null when the lane has retired: it no longer takes messages.</summary>
        public Task<ReducerResult>? TrySend(MessageToSend message)
        {
            var done = new TaskCompletionSource<ReducerResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            bool start;
            lock (_gate)
            {
                if (_retired) return null;
                _waiting.Add((message, done));
                start = _inFlight < MaxInFlight;
                if (start) _inFlight++;
            }
            if (start) _ = Drain();
            return done.Task;
        }

        /// <summary>Sends what is waiting, batch after batch, until nothing can go; then gives its in-flight slot back.</summary>
        private async Task Drain()
        {
            List<(MessageToSend Message, TaskCompletionSource<ReducerResult> Done)>? batch = null;
            HashSet<ConnectionId>? carried = null;
            while (true)
            {
                lock (_gate)
                {
                    if (carried is not null) _travelling.ExceptWith(carried);
                    (batch, carried) = TakeBatch();
                    if (batch.Count == 0)
                    {
                        _inFlight--;
                        // Idle (nothing waiting, nothing held back for a travelling connection, no call out): leave the map.
                        if (_inFlight == 0 && _waiting.Count == 0)
                        {
                            _retired = true;
                            owner._lanes.TryRemove(new KeyValuePair<string, Lane>(database, this));
                        }
                        return;
                    }
                }
                try
                {
                    var messages = new MessageToSend[batch.Count];
                    for (var i = 0; i < messages.Length; i++) messages[i] = batch[i].Message;
                    var results = await log.SendMessages(messages);
                    if (results.Length != batch.Count)
                        throw new InvalidOperationException($"The message log answered {results.Length} of {batch.Count} sends.");
                    for (var i = 0; i < results.Length; i++) batch[i].Done.TrySetResult(results[i]);
                }
                catch (Exception e)
                {
                    // Whatever failed the call (a silo going away, a timeout) is each caller's answer, as it would have been alone.
                    foreach (var (_, done) in batch) done.TrySetException(e);
                }
            }
        }

        /// <summary>Under the lock: the waiting messages that may go now, in order, and the connections they carry.</summary>
        private (List<(MessageToSend, TaskCompletionSource<ReducerResult>)> Batch, HashSet<ConnectionId> Carried) TakeBatch()
        {
            var batch = new List<(MessageToSend, TaskCompletionSource<ReducerResult>)>(Math.Min(_waiting.Count, MaxBatch));
            var carried = new HashSet<ConnectionId>();
            var held = new List<(MessageToSend, TaskCompletionSource<ReducerResult>)>();
            foreach (var item in _waiting)
            {
                var connection = item.Message.Caller.ConnectionId;
                if (batch.Count == MaxBatch || connection is { } c && _travelling.Contains(c))
                {
                    held.Add(item);
                    continue;
                }
                batch.Add(item);
                if (connection is { } id) carried.Add(id);
            }
            _waiting = held;
            _travelling.UnionWith(carried);
            return (batch, carried);
        }
    }
}
