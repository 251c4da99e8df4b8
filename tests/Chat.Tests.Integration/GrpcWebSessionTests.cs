using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Web;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>Session and SessionCall as a browser makes them: gRPC-Web over HTTP/1.1 to the gateway's HTTP port.</summary>
public class GrpcWebSessionTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static readonly string[] Everything = ["SELECT * FROM User", "SELECT * FROM Message"];

    private static (GrpcChannel Channel, V1.Chat.ChatClient Chat) WebClient(TestGateway gateway)
    {
        var handler = new GrpcWebHandler(GrpcWebMode.GrpcWeb, new HttpClientHandler());
        var channel = GrpcChannel.ForAddress(gateway.WebAddress, new GrpcChannelOptions
        {
            HttpHandler = handler, HttpVersion = HttpVersion.Version11, HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        });
        return (channel, new V1.Chat.ChatClient(channel));
    }

    private static AsyncServerStreamingCall<V1.ServerMessage> OpenSession(V1.Chat.ChatClient chat, string database, string? token, CancellationToken cancellation = default)
    {
        var headers = token is null ? new Metadata() : TestGateway.Bearer(token);
        headers.Add("database", database);
        var request = new V1.SessionRequest { RequestId = 7 };
        request.Queries.AddRange(Everything);
        return chat.Session(request, headers, cancellationToken: cancellation);
    }

    private static async Task<V1.ServerMessage> Next(AsyncServerStreamingCall<V1.ServerMessage> session)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.True(await session.ResponseStream.MoveNext(bound.Token), "the session ended");
        return session.ResponseStream.Current;
    }

    /// <summary>The next update with a message insert: the user's own identity_connected may still be on its way after the snapshot.</summary>
    private static async Task<(V1.TransactionUpdate Update, V1.MessageRow Message)> NextMessage(AsyncServerStreamingCall<V1.ServerMessage> session)
    {
        while (true)
        {
            var update = (await Next(session)).TransactionUpdate;
            if (update?.Tables.SingleOrDefault(t => t.Table == "Message") is { InsertedMessages.Count: 1 } table)
                return (update, table.InsertedMessages[0]);
        }
    }

    private async Task<bool?> Online(string database, string identity)
    {
        var rows = await TestPostgres.RowsAsync(fixture.ConnectionString, """
            SELECT u.online FROM chat."user" u JOIN chat.database d ON d.id = u.database_id WHERE d.name = @db AND u.identity = @identity
            """, ("db", database), ("identity", Identity.Parse(identity).ToBytes()));
        return rows.Count == 0 ? null : (bool)rows[0][0]!;
    }

    private static V1.SessionCallRequest Call(string connectionId, uint requestId, string reducer, string argsJson) =>
        new() { ConnectionId = connectionId, Call = new V1.CallReducer { RequestId = requestId, Reducer = reducer, ArgsJson = argsJson } };

    [Fact]
    public async Task Deleting_its_database_ends_a_session_with_NOT_FOUND()
    {
        var (db, ownerToken, _) = await fixture.NewDatabaseAsync("web-session-deleted");
        var (channel, chat) = WebClient(fixture.A);
        using var _ = channel;
        using var session = OpenSession(chat, db, ownerToken);
        Assert.NotNull((await Next(session)).IdentityToken);
        while ((await Next(session)).SubscribeApplied is not { Last: true }) { }

        await fixture.A.Databases.DeleteAsync(new V1.DeleteRequest { Database = db }, TestGateway.Bearer(ownerToken));

        // The deadline only bounds a hang: a session left open after the delete never ends.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var ended = await Assert.ThrowsAsync<RpcException>(async () => { while (await session.ResponseStream.MoveNext(bound.Token)) { } });
        Assert.Equal(StatusCode.NotFound, ended.StatusCode);
        Assert.Contains($"Database '{db}' was deleted", ended.Status.Detail);
    }

    [Fact]
    public async Task A_session_gets_its_identity_the_snapshot_and_live_updates_and_its_calls_are_its_own()
    {
        var (db, ownerToken, _) = await fixture.NewDatabaseAsync("web-session");
        await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "before" }, TestGateway.Bearer(ownerToken));
        var (channel, chat) = WebClient(fixture.A);
        using var _ = channel;
        var (identity, token) = await fixture.A.CreateIdentityAsync();
        using var session = OpenSession(chat, db, token);

        var hello = (await Next(session)).IdentityToken;
        Assert.Equal(identity, hello.Identity);
        Assert.Matches("^[0-9a-f]{32}$", hello.ConnectionId);
        var snapshot = new List<V1.MessageRow>();
        while (true)
        {
            var applied = (await Next(session)).SubscribeApplied;
            Assert.Equal(7u, applied.RequestId);
            snapshot.AddRange(applied.Tables.Where(t => t.Table == "Message").SelectMany(t => t.Messages));
            if (applied.Last) break;
        }
        Assert.Equal("before", Assert.Single(snapshot).Text);
        Assert.True(await Online(db, identity));

        var result = await chat.SessionCallAsync(Call(hello.ConnectionId, 3, "send_message", """["from the browser"]"""), TestGateway.Bearer(token));
        Assert.Equal(0, result.Outcome.Code);
        Assert.Equal(3u, result.RequestId);
        var (update, message) = await NextMessage(session);
        Assert.True(update.OwnCall);
        Assert.Equal(3u, update.RequestId);
        Assert.Equal("from the browser", message.Text);
        Assert.Equal(result.Outcome.MessageOffset, message.Offset);

        // Someone else's send arrives live, not as this session's own.
        await fixture.B.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "from elsewhere" }, TestGateway.Bearer(ownerToken));
        var (other, elsewhere) = await NextMessage(session);
        Assert.False(other.OwnCall);
        Assert.Equal("from elsewhere", elsewhere.Text);
    }

    [Fact]
    public async Task A_refused_call_answers_with_the_reducers_error_and_the_session_stays_open()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("web-refused");
        var (channel, chat) = WebClient(fixture.A);
        using var _ = channel;
        using var session = OpenSession(chat, db, token: null);
        var hello = (await Next(session)).IdentityToken;

        var refused = await chat.SessionCallAsync(Call(hello.ConnectionId, 1, "send_message", """[""]"""), TestGateway.Bearer(hello.Token));
        Assert.Equal((int)StatusCode.InvalidArgument, refused.Outcome.Code);
        Assert.Equal("Messages must not be empty", refused.Outcome.Error);

        var named = await chat.SessionCallAsync(Call(hello.ConnectionId, 2, "set_name", """["Web"]"""), TestGateway.Bearer(hello.Token));
        Assert.Equal(0, named.Outcome.Code);
        while (true)
        {
            var update = (await Next(session)).TransactionUpdate;
            if (update?.Reducer != "set_name") continue;
            Assert.True(update.OwnCall);
            Assert.Equal("Web", update.Tables.Single(t => t.Table == "User").InsertedUsers.Single().Name);
            break;
        }
    }

    [Fact]
    public async Task Closing_the_session_runs_identity_disconnected_and_its_connection_id_no_longer_takes_calls()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("web-close");
        var (channel, chat) = WebClient(fixture.A);
        using var _ = channel;
        var (identity, token) = await fixture.A.CreateIdentityAsync();
        using var closing = new CancellationTokenSource();
        var session = OpenSession(chat, db, token, closing.Token);
        var hello = (await Next(session)).IdentityToken;
        Assert.True(await Online(db, identity));

        // Another identity cannot call on this session.
        var (_, strangerToken) = await fixture.A.CreateIdentityAsync();
        var stranger = await Assert.ThrowsAsync<RpcException>(() =>
            chat.SessionCallAsync(Call(hello.ConnectionId, 1, "send_message", """["hi"]"""), TestGateway.Bearer(strangerToken)).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, stranger.StatusCode);

        closing.Cancel();
        session.Dispose();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Online(db, identity) != false)
        {
            Assert.True(DateTime.UtcNow < deadline, "identity_disconnected did not run within 30 s of the session closing");
            await Task.Delay(50);
        }
        var gone = await Assert.ThrowsAsync<RpcException>(() =>
            chat.SessionCallAsync(Call(hello.ConnectionId, 2, "send_message", """["late"]"""), TestGateway.Bearer(token)).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        Assert.Contains("Open a new Session", gone.Status.Detail);
    }

    [Fact]
    public async Task Sessions_count_against_the_connection_limits()
    {
        await using var strict = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?> { ["Chat:Gateway:MaxConnectionsPerIdentity"] = "1" });
        var (db, _, _) = await fixture.NewDatabaseAsync("web-limits");
        var (channel, chat) = WebClient(strict);
        using var _ = channel;
        var (_, token) = await strict.CreateIdentityAsync();
        using var first = OpenSession(chat, db, token);
        await Next(first);

        using var second = OpenSession(chat, db, token);
        var refused = await Assert.ThrowsAsync<RpcException>(() => second.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("already has 1 connections", refused.Status.Detail);
    }
}
