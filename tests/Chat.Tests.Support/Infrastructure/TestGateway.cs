using Chat.Frontend;
using Chat.Frontend.Delivery;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using V1 = Chat.Api.V1;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A real gateway (ASP.NET Core gRPC on Kestrel, HTTP/2 on a loopback port) in front of a test
/// cluster's client, and real gRPC channels to it.
/// </summary>
public sealed class TestGateway : IAsyncDisposable
{
    /// <summary>The signing key every test gateway shares, so that tokens work on all of them, as in a real deployment.</summary>
    public static readonly string SigningKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    private readonly WebApplication _app;
    private readonly GrpcChannel _channel;

    public string Address { get; }
    public V1.Chat.ChatClient Chat { get; }
    public V1.Databases.DatabasesClient Databases { get; }
    public IServiceProvider Services => _app.Services;

    /// <summary>The HTTP/1.1 endpoint, as the stack's HTTP port: gRPC-Web and the web page.</summary>
    public string WebAddress { get; }

    private TestGateway(WebApplication app, string address, string webAddress)
    {
        _app = app;
        Address = address;
        WebAddress = webAddress;
        _channel = GrpcChannel.ForAddress(address);
        Chat = new V1.Chat.ChatClient(_channel);
        Databases = new V1.Databases.DatabasesClient(_channel);
    }

    public static async Task<TestGateway> StartAsync(IClusterClient client, IDictionary<string, string?>? settings = null, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateBuilder();
        // Not the appsettings.json that the silo project leaves in the test output: its fixed ports would collide.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Chat:Auth:SigningKey"] = SigningKey,
            ["Chat:Gateway:HeartbeatInterval"] = "00:00:01",
            ["Chat:Gateway:FeedRenewInterval"] = "00:00:01",
        });
        // Every test client is 127.0.0.1, one client address: per-address limits lifted for the whole suite's traffic.
        // AddressLimitTests start gateways of their own with low ones.
        builder.Configuration.AddInMemoryCollection(GatewayOptions.AddressLimitsLifted!);
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        ListenOptions? web = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
            k.Listen(System.Net.IPAddress.Loopback, 0, l => (l.Protocols, web) = (HttpProtocols.Http1, l));
        });
        builder.Services.AddSingleton(client);
        builder.Services.AddSingleton<IGrainFactory>(client);
        builder.Services.AddChatGateway(builder.Configuration);
        var app = builder.Build();
        app.MapChatGateway();
        await app.StartAsync();
        // Kestrel writes the port it bound into the listen options.
        var webAddress = $"http://127.0.0.1:{web!.IPEndPoint!.Port}";
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First(a => a != webAddress);
        return new TestGateway(app, address, webAddress);
    }

    public ConnectionRegistry Registry => _app.Services.GetRequiredService<ConnectionRegistry>();

    public LogFollowing LogFollowing => _app.Services.GetRequiredService<LogFollowing>();

    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    public async Task<(string Identity, string Token)> CreateIdentityAsync()
    {
        var created = await Chat.CreateIdentityAsync(new V1.CreateIdentityRequest());
        return (created.Identity, created.Token);
    }

    /// <summary>Opens Connect and reads the IdentityToken that always comes first.</summary>
    public async Task<LiveConnection> ConnectAsync(string database, string? token = null, CancellationToken cancellationToken = default)
    {
        var headers = token is null ? new Metadata() : Bearer(token);
        headers.Add("database", database);
        var call = Chat.Connect(headers, cancellationToken: cancellationToken);
        if (!await call.ResponseStream.MoveNext(CancellationToken.None))
            throw new InvalidOperationException("Connect ended before the identity token");
        var first = call.ResponseStream.Current;
        Assert.Equal(V1.ServerMessage.MessageOneofCase.IdentityToken, first.MessageCase);
        return new LiveConnection(call, first.IdentityToken);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// A client's end of a Connect stream. A background reader sorts what arrives: reducer results go to the
/// call waiting for them, everything else (subscription messages) into <see cref="Updates"/>, in order.
/// </summary>
public sealed class LiveConnection : IDisposable
{
    private readonly AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> _call;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<uint, TaskCompletionSource<V1.ReducerResult>> _waiting = new();
    private readonly System.Threading.Channels.Channel<V1.ServerMessage> _updates = System.Threading.Channels.Channel.CreateUnbounded<V1.ServerMessage>();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _reading;
    private uint _requests;

    public LiveConnection(AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call, V1.IdentityToken hello)
    {
        (_call, Hello) = (call, hello);
        _reading = Task.Run(ReadAll);
    }

    public V1.IdentityToken Hello { get; }

    /// <summary>The request ids of the reducer results received, in the order they arrived.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<uint> Answered { get; } = new();
    public string Identity => Hello.Identity;
    public string Token => Hello.Token;

    /// <summary>Subscription messages in arrival order; completes (with the error, if any) when the stream ends.</summary>
    public System.Threading.Channels.ChannelReader<V1.ServerMessage> Updates => _updates.Reader;

    /// <summary>How the stream ended, once it has: null for OK.</summary>
    public RpcException? EndedWith { get; private set; }
    public Task Ended => _reading;

    private async Task ReadAll()
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(CancellationToken.None))
            {
                var message = _call.ResponseStream.Current;
                if (message.MessageCase == V1.ServerMessage.MessageOneofCase.ReducerResult)
                    Answered.Enqueue(message.ReducerResult.RequestId);
                if (message.MessageCase == V1.ServerMessage.MessageOneofCase.ReducerResult
                    && _waiting.TryRemove(message.ReducerResult.RequestId, out var waiter))
                    waiter.TrySetResult(message.ReducerResult);
                else
                    _updates.Writer.TryWrite(message);
            }
        }
        catch (RpcException e)
        {
            EndedWith = e;
        }
        finally
        {
            _updates.Writer.TryComplete();
            foreach (var waiter in _waiting.Values) waiter.TrySetException((Exception?)EndedWith ?? new InvalidOperationException("the stream ended"));
        }
    }

    public uint NextRequestId() => Interlocked.Increment(ref _requests);

    public async Task<V1.ReducerResult> CallAsync(string reducer, string argsJson, string? idempotencyKey = null)
    {
        var id = NextRequestId();
        var waiter = new TaskCompletionSource<V1.ReducerResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[id] = waiter;
        await SendAsync(new V1.ClientMessage { CallReducer = new V1.CallReducer { RequestId = id, Reducer = reducer, ArgsJson = argsJson, IdempotencyKey = idempotencyKey ?? "" } });
        var result = await waiter.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(id, result.RequestId);
        return result;
    }

    public async Task<uint> SubscribeAsync(params string[] queries)
    {
        var id = NextRequestId();
        var subscribe = new V1.Subscribe { RequestId = id };
        subscribe.Queries.AddRange(queries);
        await SendAsync(new V1.ClientMessage { Subscribe = subscribe });
        return id;
    }

    public Task UnsubscribeAsync(uint requestId) => SendAsync(new V1.ClientMessage { Unsubscribe = new V1.Unsubscribe { RequestId = requestId } });

    /// <summary>The next subscription message, within a bounded wait.</summary>
    public async Task<V1.ServerMessage> NextUpdateAsync(int seconds = 15)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            return await _updates.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No subscription message within {seconds} s");
        }
    }

    /// <summary>The rows of a SubscribeApplied, all chunks up to the last.</summary>
    public async Task<(List<V1.UserRow> Users, List<V1.MessageRow> Messages)> ReadSnapshotAsync(uint requestId)
    {
        var (users, messages) = (new List<V1.UserRow>(), new List<V1.MessageRow>());
        while (true)
        {
            var message = await NextUpdateAsync();
            if (message.SubscriptionError is { } error) Assert.Fail($"subscription refused: {error.Error}");
            Assert.Equal(V1.ServerMessage.MessageOneofCase.SubscribeApplied, message.MessageCase);
            Assert.Equal(requestId, message.SubscribeApplied.RequestId);
            foreach (var table in message.SubscribeApplied.Tables)
            {
                users.AddRange(table.Users);
                messages.AddRange(table.Messages);
            }
            if (message.SubscribeApplied.Last) return (users, messages);
        }
    }

    private async Task SendAsync(V1.ClientMessage message)
    {
        await _writeLock.WaitAsync();
        try { await _call.RequestStream.WriteAsync(message); }
        finally { _writeLock.Release(); }
    }

    /// <summary>A polite goodbye: the client completes its side and the server ends the call.</summary>
    public async Task CloseAsync()
    {
        await _writeLock.WaitAsync();
        try { await _call.RequestStream.CompleteAsync(); }
        finally { _writeLock.Release(); }
        await _reading;
    }

    public void Dispose() => _call.Dispose();
}
