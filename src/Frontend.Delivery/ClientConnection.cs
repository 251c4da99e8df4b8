using System.Threading.Channels;
using Chat.Api.V1;
using Grpc.Core;

namespace Chat.Frontend.Delivery;

/// <summary>
/// The server's end of one Connect stream: everything sent to the client goes through one bounded queue,
/// written by one writer. A client that lets the queue fill up is evicted rather than allowed to grow the
/// gateway's memory or hold back other clients.
/// <para>
/// Why an engine of its own: deliveries come from the replica's work queue and answers from the connection's calls, and
/// neither may wait for a slow client; this queue is the one place they meet, with one writer to the stream. It orders
/// nothing beyond what it is given (<see cref="CallOrder"/> orders the calls, the replica the updates).
/// </para>
/// </summary>
public sealed class ClientConnection : IDisposable
{
    private readonly Channel<ServerMessage> _outgoing;
    private readonly CancellationTokenSource _evicted = new();
    private readonly Lock _ending = new();
    private bool _disposed;
    private readonly int _capacity;

    public ClientConnection(Identity identity, ConnectionId id, string database, int capacity)
    {
        (Identity, Id, Database, _capacity) = (identity, id, database, capacity);
        _outgoing = Channel.CreateBounded<ServerMessage>(new BoundedChannelOptions(capacity) { SingleReader = true });
    }

    public Identity Identity { get; }
    public ConnectionId Id { get; }
    public string Database { get; }
    public string? EvictedBecause { get; private set; }

    /// <summary>How many messages may wait for this client before it is evicted.</summary>
    public int Capacity => _capacity;
    public CancellationToken Evicted => _evicted.Token;

    /// <summary>For pushed updates: never waits; a full queue evicts the client.</summary>
    public bool TrySend(ServerMessage message)
    {
        if (_outgoing.Writer.TryWrite(message)) return true;
        Evict($"Disconnected: this client could not keep up with its updates ({_capacity} messages were waiting; they were dropped). Reconnect and subscribe again.");
        return false;
    }

    /// <summary>For answers and snapshot chunks: waits for room, so that a large snapshot streams at the client's pace.</summary>
    public ValueTask SendAsync(ServerMessage message, CancellationToken cancellationToken) =>
        _outgoing.Writer.WriteAsync(message, cancellationToken);

    /// <summary>The status the stream ends with once <see cref="EvictedBecause"/> is set.</summary>
    public StatusCode EndStatus { get; private set; } = StatusCode.ResourceExhausted;

    /// <summary>Ends a client that could not keep up (RESOURCE_EXHAUSTED).</summary>
    public void Evict(string reason) => End(StatusCode.ResourceExhausted, reason);

    /// <summary>Ends the connection: what is still queued is dropped, so the client's status follows only the message being written.</summary>
    public void End(StatusCode status, string reason)
    {
        // Replicas end connections from their own threads, possibly as the stream finishes: one ending wins, and none
        // comes after Dispose (the stream is over by then, so there is nothing left to end).
        lock (_ending)
        {
            if (EvictedBecause is not null || _disposed) return;
            EndStatus = status;
            EvictedBecause = reason;
            _outgoing.Writer.TryComplete();
            // Asynchronously: the caller is a replica delivering to many connections, not the place to run this one's ending.
            _ = _evicted.CancelAsync();
        }
    }

    /// <summary>The Connect call's, once its stream is over and nothing is linked to <see cref="Evicted"/> any more.</summary>
    public void Dispose()
    {
        lock (_ending)
        {
            _disposed = true;
            _evicted.Dispose();
        }
    }

    public void Complete() => _outgoing.Writer.TryComplete();

    private readonly HashSet<SubscriptionSet> _subscriptions = [];
    private int _subscriptionText;
    private int _joinQueries;

    /// <summary>
    /// Counts the set against this connection's limits, or says why it cannot be (then nothing is held). Held from the
    /// Subscribe until the set is removed, dropped or refused, snapshot included.
    /// </summary>
    public string? TryHoldSubscription(SubscriptionSet set, int maxSets, int maxText, int maxJoins)
    {
        lock (_subscriptions)
        {
            if (SubscriptionRefusal(set.TextLength, maxSets, maxText) is { } refusal) return refusal;
            if (set.Joins.Count > 0 && _joinQueries + set.Joins.Count > maxJoins)
                return $"This subscription has {set.Joins.Count} join queries and the connection's live subscriptions already have {_joinQueries}; " +
                       $"one connection may hold at most {maxJoins} (a join costs the gateway more to follow than a one-table query). " +
                       "Unsubscribe from some first, or subscribe to the tables on their own.";
            _subscriptions.Add(set);
            _subscriptionText += set.TextLength;
            _joinQueries += set.Joins.Count;
            return null;
        }
    }

    /// <summary>Why a subscription of <paramref name="textLength"/> characters would be refused now, if it would: checked before parsing, too.</summary>
    public string? SubscriptionRefusal(int textLength, int maxSets, int maxText)
    {
        lock (_subscriptions)
        {
            if (_subscriptions.Count >= maxSets)
                return $"This connection already has {_subscriptions.Count} subscriptions, the most one connection may hold ({maxSets}). " +
                       "Unsubscribe from one first, or put the queries in one Subscribe.";
            if (_subscriptionText + textLength > maxText)
                return $"This subscription's queries are {textLength} characters and the connection's live subscriptions already have " +
                       $"{_subscriptionText}; one connection may hold at most {maxText} characters of query text. Unsubscribe from some first, or use shorter queries.";
            return null;
        }
    }

    /// <summary>Gives back what <see cref="TryHoldSubscription"/> took; a second release of one set changes nothing.</summary>
    public void ReleaseSubscription(SubscriptionSet set)
    {
        lock (_subscriptions)
            if (_subscriptions.Remove(set))
            {
                _subscriptionText -= set.TextLength;
                _joinQueries -= set.Joins.Count;
            }
    }

    /// <summary>Set once the first refusal of this connection has been logged: one line per connection is enough.</summary>
    public bool RefusalLogged { get; set; }

    /// <summary>Writes the queue to the stream until it is completed.</summary>
    public async Task PumpAsync(IServerStreamWriter<ServerMessage> stream, CancellationToken cancellationToken)
    {
        await foreach (var message in _outgoing.Reader.ReadAllAsync(cancellationToken))
        {
            if (EvictedBecause is not null) return;
            await stream.WriteAsync(message, cancellationToken);
        }
    }
}
