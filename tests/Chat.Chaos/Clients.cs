using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.Chaos;

public static class Clients
{
    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    /// <summary>Failures worth the same call again: the cluster, a gateway or the connection was away, or the call ran out of time.</summary>
    public static bool IsRetriable(StatusCode code) =>
        code is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled or StatusCode.Unknown or StatusCode.Internal or StatusCode.Aborted
            // The per-identity connection limit: streams this client gave up on are still counted until the gateway ends them.
            or StatusCode.ResourceExhausted;

    public static GrpcChannel Channel(string address) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            // A killed gateway's connections are reset at once; a hung one is found by keep-alive pings.
            KeepAlivePingDelay = TimeSpan.FromSeconds(2),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(2),
            EnableMultipleHttp2Connections = true,
        },
    });
}

/// <summary>One logical message a client saw acknowledged.</summary>
public sealed record Ack(string Database, string Key, ulong Offset, bool Replayed, string Via, int Attempts, TimeSpan Latency);

/// <summary>
/// A Connect stream used for reducer calls: a reader hands each ReducerResult to the call waiting for its request id.
/// </summary>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix",
    Justification = "It is a stream: one Connect call carrying reducer calls and their results, not a System.IO.Stream look-alike.")]
public sealed class ReducerStream : IDisposable
{
    private readonly AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> _call;
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<V1.ReducerResult>> _waiting = new();
    private readonly Task _reading;
    private uint _requests;

    private ReducerStream(AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call)
    {
        _call = call;
        _reading = Task.Run(ReadAll);
    }

    public bool Broken => _reading.IsCompleted;

    public static async Task<ReducerStream> OpenAsync(V1.Chat.ChatClient chat, string database, string token, TimeSpan timeout)
    {
        var headers = Clients.Bearer(token);
        headers.Add("database", database);
        var call = chat.Connect(headers);
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            if (!await call.ResponseStream.MoveNext(cts.Token))
                throw new RpcException(new Status(StatusCode.Unavailable, "Connect ended before the identity token"));
            if (call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
                throw new RpcException(new Status(StatusCode.Internal, "the first message was not the identity token"));
            return new ReducerStream(call);
        }
        catch (OperationCanceledException)
        {
            call.Dispose();
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, "no identity token in time"));
        }
        catch
        {
            call.Dispose();
            throw;
        }
    }

    private async Task ReadAll()
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(CancellationToken.None))
                if (_call.ResponseStream.Current.ReducerResult is { } result && _waiting.TryRemove(result.RequestId, out var waiter))
                    waiter.TrySetResult(result);
        }
        catch (Exception) { /* broken: every waiter fails below */ }
        finally
        {
            foreach (var waiter in _waiting.Values) waiter.TrySetException(new RpcException(new Status(StatusCode.Unavailable, "the Connect stream ended")));
        }
    }

    public async Task<V1.ReducerResult> SendMessageAsync(string text, string key, TimeSpan timeout)
    {
        var id = Interlocked.Increment(ref _requests);
        var waiter = new TaskCompletionSource<V1.ReducerResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[id] = waiter;
        if (Broken) waiter.TrySetException(new RpcException(new Status(StatusCode.Unavailable, "the Connect stream ended")));
        var args = System.Text.Json.JsonSerializer.Serialize(new[] { text });
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _call.RequestStream.WriteAsync(new V1.ClientMessage
            {
                CallReducer = new V1.CallReducer { RequestId = id, Reducer = "send_message", ArgsJson = args, IdempotencyKey = key },
            }, cts.Token);
            return await waiter.Task.WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, "no ReducerResult in time"));
        }
        catch (InvalidOperationException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, e.Message));
        }
    }

    /// <summary>Completes the client's side and waits (bounded) for the server to end the call.</summary>
    public async Task CloseAsync(TimeSpan timeout)
    {
        try
        {
            await _call.RequestStream.CompleteAsync().WaitAsync(timeout);
            await _reading.WaitAsync(timeout);
        }
        catch (Exception) { /* it is going away either way */ }
    }

    public void Dispose() => _call.Dispose();
}

/// <summary>
/// A client sending logical messages one after the other. Each has a key of its own (also its text); after a retriable
/// failure (UNAVAILABLE, DEADLINE_EXCEEDED, a broken connection) it is sent again with the same key, through a gateway
/// chosen afresh, until it is acknowledged or the run gives up. Every other message goes as unary SendMessage, the rest
/// as CallReducer on a Connect stream.
/// </summary>
public sealed class Sender(int id, string database, string token, IReadOnlyList<V1.Chat.ChatClient> gateways, int seed, TimeSpan callTimeout, TimeSpan pace)
{
    private readonly Random _random = new(seed);
    private ReducerStream? _stream;
    private int _streamGateway;

    public string Name { get; } = $"sender{id}";
    public string Database { get; } = database;
    public ConcurrentQueue<Ack> Acks { get; } = new();
    /// <summary>Logical messages never acknowledged: stored zero times or once, the client cannot know.</summary>
    public ConcurrentQueue<string> GaveUp { get; } = new();
    /// <summary>Refused with a status that is not worth a retry: never expected for these calls.</summary>
    public ConcurrentQueue<string> Refused { get; } = new();
    public ConcurrentDictionary<StatusCode, int> RetriedAfter { get; } = new();
    public int Sent => Acks.Count;

    /// <param name="stopNew">no new logical message after this</param>
    /// <param name="giveUp">stop retrying the current one</param>
    public async Task RunAsync(CancellationToken stopNew, CancellationToken giveUp)
    {
        for (var n = 0; !stopNew.IsCancellationRequested; n++)
        {
            var key = $"{Database}-{Name}-m{n}";
            var viaStream = _random.Next(2) == 0;
            var gateway = _random.Next(gateways.Count);
            var clock = Stopwatch.StartNew();
            for (var attempt = 1; ; attempt++, gateway = (gateway + 1) % gateways.Count)
            {
                if (giveUp.IsCancellationRequested)
                {
                    GaveUp.Enqueue(key);
                    break;
                }
                try
                {
                    var (offset, replayed) = viaStream ? await ViaStreamAsync(gateway, key) : await UnaryAsync(gateway, key);
                    Acks.Enqueue(new Ack(Database, key, offset, replayed, $"{(viaStream ? "stream" : "unary")}@gateway{gateway + 1}", attempt, clock.Elapsed));
                    break;
                }
                catch (RpcException e) when (Clients.IsRetriable(e.StatusCode))
                {
                    RetriedAfter.AddOrUpdate(e.StatusCode, 1, (_, c) => c + 1);
                    var backoff = e.StatusCode == StatusCode.ResourceExhausted ? 1000 : 100;
                    try { await Task.Delay(backoff + _random.Next(200), giveUp); } catch (OperationCanceledException) { }
                }
                catch (RpcException e)
                {
                    Refused.Enqueue($"{key}: {e.StatusCode} {e.Status.Detail}");
                    break;
                }
            }
            try { await Task.Delay(pace, stopNew); } catch (OperationCanceledException) { }
        }
        await CloseAsync();
    }

    private async Task<(ulong, bool)> UnaryAsync(int gateway, string key)
    {
        var reply = await gateways[gateway].SendMessageAsync(new V1.SendMessageRequest { Database = Database, Text = key, IdempotencyKey = key },
            Clients.Bearer(token), DateTime.UtcNow + callTimeout);
        return (reply.MessageOffset, reply.Replayed);
    }

    private async Task<(ulong, bool)> ViaStreamAsync(int gateway, string key)
    {
        if (_stream is { Broken: true } || (_stream is not null && _streamGateway != gateway))
        {
            _stream.Dispose();
            _stream = null;
        }
        try
        {
            if (_stream is null)
            {
                _stream = await ReducerStream.OpenAsync(gateways[gateway], Database, token, callTimeout);
                _streamGateway = gateway;
            }
            var result = await _stream.SendMessageAsync(key, key, callTimeout);
            if (result.Outcome.Code != 0)
                throw new RpcException(new Status((StatusCode)result.Outcome.Code, result.Outcome.Error));
            return (result.Outcome.MessageOffset, result.Outcome.Replayed);
        }
        catch (RpcException e) when (Clients.IsRetriable(e.StatusCode))
        {
            // The stream may be stuck behind the failed call: a fresh one for the retry.
            _stream?.Dispose();
            _stream = null;
            throw;
        }
        catch (Exception e) when (e is IOException or HttpRequestException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection broke under a write: as retriable as UNAVAILABLE.
            _stream?.Dispose();
            _stream = null;
            throw new RpcException(new Status(StatusCode.Unavailable, $"connection error: {e.Message}"));
        }
    }

    public async Task CloseAsync()
    {
        if (_stream is null) return;
        await _stream.CloseAsync(TimeSpan.FromSeconds(5));
        _stream.Dispose();
        _stream = null;
    }
}

/// <summary>A received message row: enough to compare with what PostgreSQL holds.</summary>
public readonly record struct Received(ulong Offset, string Sender, string Text);

/// <summary>One Subscribe on one Connect stream, from the request until the stream ended (or the run did).</summary>
public sealed class SubscriptionSession(int number, string gateway)
{
    public int Number { get; } = number;
    public string Gateway { get; } = gateway;
    public List<Received> Snapshot { get; } = [];
    public bool SnapshotComplete { get; set; }
    public List<Received> Live { get; } = [];
    public string? EndedBecause { get; set; }
    public ulong LastOffset
    {
        get { lock (this) return Live.Count > 0 ? Live[^1].Offset : SnapshotComplete ? (ulong)Snapshot.Count : 0; }
    }
}

/// <summary>
/// A client on one gateway that subscribes to <c>SELECT * FROM Message</c> and, whenever its stream breaks, connects
/// again and subscribes again (a new session: a new snapshot, then live updates).
/// </summary>
public sealed class Subscriber(int id, string database, string token, V1.Chat.ChatClient chat, string gatewayName)
{
    private AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>? _call;
    private volatile bool _closing;

    public string Name { get; } = $"subscriber{id}@{gatewayName}";
    public string Database { get; } = database;
    public List<SubscriptionSession> Sessions { get; } = [];
    public SubscriptionSession? Current => Sessions.Count > 0 && Sessions[^1].EndedBecause is null ? Sessions[^1] : null;

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested && !_closing)
        {
            var session = new SubscriptionSession(Sessions.Count + 1, gatewayName);
            try
            {
                var headers = Clients.Bearer(token);
                headers.Add("database", Database);
                using var call = chat.Connect(headers, cancellationToken: stop);
                _call = call;
                if (!await call.ResponseStream.MoveNext(stop)) throw new RpcException(new Status(StatusCode.Unavailable, "ended before the identity token"));
                var subscribe = new V1.Subscribe { RequestId = 1 };
                subscribe.Queries.Add("SELECT * FROM Message");
                await call.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = subscribe }, stop);
                lock (Sessions) Sessions.Add(session);
                while (await call.ResponseStream.MoveNext(stop))
                {
                    var message = call.ResponseStream.Current;
                    lock (session)
                    {
                        switch (message.MessageCase)
                        {
                            case V1.ServerMessage.MessageOneofCase.SubscribeApplied:
                                foreach (var table in message.SubscribeApplied.Tables)
                                    session.Snapshot.AddRange(table.Messages.Select(m => new Received(m.Offset, m.Sender, m.Text)));
                                if (message.SubscribeApplied.Last) session.SnapshotComplete = true;
                                break;
                            case V1.ServerMessage.MessageOneofCase.TransactionUpdate:
                                foreach (var table in message.TransactionUpdate.Tables)
                                    session.Live.AddRange(table.InsertedMessages.Select(m => new Received(m.Offset, m.Sender, m.Text)));
                                break;
                            case V1.ServerMessage.MessageOneofCase.SubscriptionError:
                                session.EndedBecause = $"SubscriptionError: {message.SubscriptionError.Error}";
                                break;
                        }
                    }
                    if (session.EndedBecause is not null) break;
                }
                session.EndedBecause ??= stop.IsCancellationRequested || _closing ? "closed by the client" : "the server ended the stream";
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                session.EndedBecause ??= "closed by the client";
            }
            catch (RpcException e)
            {
                session.EndedBecause ??= $"{e.StatusCode}: {e.Status.Detail}";
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or HttpRequestException)
            {
                session.EndedBecause ??= e.Message;
            }
            finally
            {
                _call = null;
            }
            try { await Task.Delay(300, stop); } catch (OperationCanceledException) { }
        }
    }

    /// <summary>A polite goodbye on the current stream, so that the gateway runs identity_disconnected.</summary>
    public async Task CloseAsync()
    {
        _closing = true;
        if (_call is { } call)
        {
            try { await call.RequestStream.CompleteAsync().WaitAsync(TimeSpan.FromSeconds(5)); }
            catch (Exception) { /* going away either way */ }
        }
    }
}
