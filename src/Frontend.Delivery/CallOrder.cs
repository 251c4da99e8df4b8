namespace Chat.Frontend.Delivery;

/// <summary>
/// The order one connection's reducer calls take effect in, whatever carries them (a Connect stream's
/// <see cref="ReducerCallPipeline"/>, a Session's <see cref="OpenSession"/>): consecutive send_message calls run together
/// (they reach the message log in the order they were made, through <see cref="MessageSender"/>, and commit in that
/// order), while any other call waits until every call before it has finished, and every call after it waits for it, so
/// one client's calls take effect in the order it made them, as they do in SpacetimeDB.
/// </summary>
/// <remarks>
/// Why an engine of its own: it is the only ordering per connection, used by Connect streams and Sessions alike.
/// Deliveries are ordered per database by <see cref="DatabaseReplica"/>, and sends are gathered across connections by
/// <see cref="MessageSender"/>. Not thread-safe: its owner starts one call at a time, in the order the client made them.
/// </remarks>
public sealed class CallOrder
{
    private readonly List<Task> _running = [];
    private bool _runningAreSends = true;

    /// <summary>Starts the call once the calls it must follow have finished; returns it running.</summary>
    public async ValueTask<Task<T>> StartAsync<T>(bool isSend, Func<Task<T>> start)
    {
        _running.RemoveAll(t => t.IsCompleted);
        if (!(isSend && _runningAreSends))
            await IdleAsync();
        _runningAreSends = isSend;
        var running = start();
        _running.Add(running);
        return running;
    }

    /// <summary>Waits until every call started so far has finished (not necessarily been answered).</summary>
    public async Task IdleAsync()
    {
        try
        {
            await Task.WhenAll(_running);
        }
        catch
        {
            // A call's own failure reaches its caller through its task; here only its end matters.
        }
        _running.Clear();
        _runningAreSends = true;
    }
}
