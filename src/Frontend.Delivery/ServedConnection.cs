using System.Net;

namespace Chat.Frontend.Delivery;

/// <summary>What serving one live connection (a Connect or a Session stream) needs once it is open.</summary>
public sealed class ServedConnection(ClientConnection connection, ReducerCaller caller, string database, IPAddress? peer, CancellationToken ending)
{
    public ClientConnection Connection { get; } = connection;
    public ReducerCaller Caller { get; } = caller;
    public string Database { get; } = database;
    public IPAddress? Peer { get; } = peer;

    /// <summary>Cancelled when the stream ends: the client left, was evicted, or the gateway stops.</summary>
    public CancellationToken Ending { get; } = ending;

    /// <summary>Set when the stream ends because an answer could not be made: its error is the stream's status, not a cancellation.</summary>
    public bool Failed { get; set; }
}
