using System.Collections.Immutable;
using System.Threading.Channels;
using Chat.Api.V1;
using Chat.Benchmarks.Proto;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Chat.Benchmarks;

/// <summary>
/// The fan-out baseline's in-memory rooms: every listener has a bounded queue written by the publisher and drained by its
/// stream's single writer, like the gateway's ClientConnection, and nothing else: no storage, no grains, no filtering.
/// </summary>
public sealed class BaselineHub
{
    private readonly object _gate = new();
    private ImmutableDictionary<string, Channel<ServerMessage>[]> _rooms = ImmutableDictionary<string, Channel<ServerMessage>[]>.Empty;

    /// <summary>Listeners of one room now.</summary>
    public int Listeners(string room = "") => Volatile.Read(ref _rooms).TryGetValue(room, out var listeners) ? listeners.Length : 0;

    public Channel<ServerMessage> Add(int capacity, string room = "")
    {
        var channel = Channel.CreateBounded<ServerMessage>(new BoundedChannelOptions(capacity) { SingleReader = true });
        lock (_gate)
            _rooms = _rooms.SetItem(room, [.. _rooms.GetValueOrDefault(room, []), channel]);
        return channel;
    }

    public void Remove(Channel<ServerMessage> channel, string room = "")
    {
        lock (_gate)
        {
            var left = _rooms.GetValueOrDefault(room, []).Where(c => c != channel).ToArray();
            _rooms = left.Length == 0 ? _rooms.Remove(room) : _rooms.SetItem(room, left);
        }
    }

    /// <summary>The same message object to every listener of the room; returns how many queues were full.</summary>
    public int Publish(ServerMessage message, string room = "")
    {
        var full = 0;
        if (Volatile.Read(ref _rooms).TryGetValue(room, out var listeners))
            foreach (var listener in listeners)
                if (!listener.Writer.TryWrite(message)) full++;
        return full;
    }

    /// <summary>Ends every listener's stream, in every room, once its queue is drained.</summary>
    public void CompleteAll()
    {
        foreach (var listeners in Volatile.Read(ref _rooms).Values)
            foreach (var listener in listeners) listener.Writer.TryComplete();
    }
}

/// <summary>The baseline's Listen: a hello, then whatever is published to the listener's room, through its bounded queue.</summary>
public sealed class FanoutBaselineService(BaselineHub hub) : FanoutBaseline.FanoutBaselineBase
{
    public const int QueueCapacity = 100_000; // as the gateway's Chat:Gateway:SendQueueCapacity in the benchmarks

    private static readonly ServerMessage Hello = new() { IdentityToken = new IdentityToken { Identity = new string('0', 64) } };

    public override async Task Listen(ListenRequest request, IServerStreamWriter<ServerMessage> responseStream, ServerCallContext context)
    {
        var queue = hub.Add(QueueCapacity, request.Room);
        try
        {
            queue.Writer.TryWrite(Hello); // registered: the client may count on every message published from now on
            await foreach (var message in queue.Reader.ReadAllAsync(context.CancellationToken))
                await responseStream.WriteAsync(message, context.CancellationToken);
        }
        finally
        {
            hub.Remove(queue, request.Room);
        }
    }
}

/// <summary>The shape of what the gateway sends a subscriber of <c>SELECT * FROM Message</c>, so the baseline pushes the same bytes.</summary>
public static class GatewayShape
{
    /// <summary>One committed send_message (see DatabaseReplica.Deliver): one MessageRow in one TableUpdate; the caller's connection id is empty for a unary call.</summary>
    public static ServerMessage MessageUpdate(string sender, DateTime sent, string text, ulong offset, string callerConnectionId = "")
    {
        var timestamp = Timestamp.FromDateTime(sent);
        var update = new TransactionUpdate
        {
            Reducer = "send_message",
            CallerIdentity = sender,
            CallerConnectionId = callerConnectionId,
            Timestamp = timestamp,
            OwnCall = false,
            RequestId = 0,
            Status = "committed",
        };
        var table = new TableUpdate { Table = "Message" };
        table.InsertedMessages.Add(new Chat.Api.V1.MessageRow { Sender = sender, Sent = timestamp, Text = text, Offset = offset });
        update.Tables.Add(table);
        return new ServerMessage { TransactionUpdate = update };
    }
}
