using Chat.Gateway;
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

    private TestGateway(WebApplication app, string address)
    {
        _app = app;
        Address = address;
        _channel = GrpcChannel.ForAddress(address);
        Chat = new V1.Chat.ChatClient(_channel);
        Databases = new V1.Databases.DatabasesClient(_channel);
    }

    public static async Task<TestGateway> StartAsync(IClusterClient client, IDictionary<string, string?>? settings = null)
    {
        var builder = WebApplication.CreateBuilder();
        // Not the appsettings.json that the silo project leaves in the test output: its fixed ports would collide.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Chat:Auth:SigningKey"] = SigningKey,
            ["Chat:Gateway:HeartbeatInterval"] = "00:00:01",
        });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddSingleton(client);
        builder.Services.AddSingleton<IGrainFactory>(client);
        builder.Services.AddChatGateway(builder.Configuration);
        var app = builder.Build();
        app.MapChatGateway();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestGateway(app, address);
    }

    public ConnectionRegistry Registry => _app.Services.GetRequiredService<ConnectionRegistry>();

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

/// <summary>A client's end of a Connect stream.</summary>
public sealed class LiveConnection(AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call, V1.IdentityToken hello) : IDisposable
{
    private uint _requests;
    public V1.IdentityToken Hello => hello;
    public string Identity => hello.Identity;
    public string Token => hello.Token;

    public async Task<V1.ReducerResult> CallAsync(string reducer, string argsJson)
    {
        var id = ++_requests;
        await call.RequestStream.WriteAsync(new V1.ClientMessage { CallReducer = new V1.CallReducer { RequestId = id, Reducer = reducer, ArgsJson = argsJson } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), "the stream ended before the reducer result");
        var result = call.ResponseStream.Current.ReducerResult;
        Assert.Equal(id, result.RequestId);
        return result;
    }

    /// <summary>A polite goodbye: the client completes its side and the server ends the call.</summary>
    public async Task CloseAsync()
    {
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
    }

    public void Dispose() => call.Dispose();
}
