using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;

namespace Chat.Frontend.Delivery;

/// <summary>
/// The open Session streams of this gateway, by connection id, so that a SessionCall (a separate request) runs on its
/// session's connection. Only the session's own identity finds it.
/// </summary>
public sealed class SessionRegistry
{
    /// <summary>As many calls as a Connect stream may have outstanding.</summary>
    public const int MaxWaitingCalls = ReducerCallPipeline.MaxOutstanding;

    private readonly ConcurrentDictionary<ConnectionId, OpenSession> _open = new();

    public IDisposable Open(ServedConnection live)
    {
        var session = new OpenSession(live);
        _open[live.Connection.Id] = session;
        return new Closing(this, session);
    }

    /// <summary>The caller's open session with that id, or NOT_FOUND saying how to get one.</summary>
    public OpenSession Find(string connectionId, Identity caller)
    {
        if (!Guid.TryParseExact(connectionId, "N", out var id))
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"connection_id must be the 32 hex characters of the Session's IdentityToken.connection_id, not '{LogText.Line(connectionId)}'."));
        if (!_open.TryGetValue(new ConnectionId(id), out var session) || session.Live.Caller.Identity != caller)
            throw new RpcException(new Status(StatusCode.NotFound,
                $"No open session {id:N} of this identity on this gateway: it has ended. Open a new Session and call with its connection_id."));
        return session;
    }

    private sealed class Closing(SessionRegistry registry, OpenSession session) : IDisposable
    {
        public void Dispose() => registry._open.TryRemove(new KeyValuePair<ConnectionId, OpenSession>(session.Live.Connection.Id, session));
    }
}

/// <summary>
/// One open Session: its calls take effect in arrival order, by the same rule as on a Connect stream (<see cref="CallOrder"/>).
/// They come as separate requests, possibly at once, so a turn lets one of them start at a time.
/// </summary>
public sealed class OpenSession(ServedConnection live)
{
    // The one turn, as the single item of a channel rather than a SemaphoreSlim: nothing to dispose, so a call still in
    // flight when the session closes never meets a disposed lock.
    private readonly Channel<bool> _turn = OneTurn();
    private readonly CallOrder _order = new();
    private int _waiting;

    public ServedConnection Live { get; } = live;

    private static Channel<bool> OneTurn()
    {
        var turn = Channel.CreateBounded<bool>(1);
        turn.Writer.TryWrite(true);
        return turn;
    }

    /// <summary>
    /// Runs the call after the session's earlier calls it must follow, and returns its answer; RESOURCE_EXHAUSTED when too
    /// many are already waiting for theirs.
    /// </summary>
    public async Task<T> CallAsync<T>(bool isSend, Func<Task<T>> start, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _waiting) > SessionRegistry.MaxWaitingCalls)
        {
            Interlocked.Decrement(ref _waiting);
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"This session already has {SessionRegistry.MaxWaitingCalls} calls waiting; wait for their answers before calling again."));
        }
        try
        {
            Task<T> running;
            using (var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Live.Ending))
                await _turn.Reader.ReadAsync(either.Token);
            try
            {
                running = await _order.StartAsync(isSend, start);
            }
            finally
            {
                _turn.Writer.TryWrite(true);
            }
            return await running;
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }
}
