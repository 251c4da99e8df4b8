using System.Security.Claims;
using Grpc.Core;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>The gateway end to end: real gRPC channels to real Kestrel gateways in front of a real cluster on PostgreSQL.</summary>
public class GatewayTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private const string Db = GatewayFixture.Database;
    private TestGateway A => fixture.A;
    private TestGateway B => fixture.B;

    private async Task<bool?> Online(string identity)
    {
        var rows = await TestPostgres.RowsAsync(fixture.ConnectionString, """
            SELECT u.online FROM chat."user" u JOIN chat.database d ON d.id = u.database_id WHERE d.name = @db AND u.identity = @identity
            """, ("db", Db), ("identity", Identity.Parse(identity).ToBytes()));
        return rows.Count == 0 ? null : (bool)rows[0][0]!;
    }

    private Task<long> MessageCount() => TestPostgres.ScalarAsync<long>(fixture.ConnectionString,
        "SELECT count(*) FROM chat.message m JOIN chat.database d ON d.id = m.database_id WHERE d.name = @db", ("db", Db));

    /// <summary>Disconnects run after the stream ends, asynchronously to the client: wait for them, bounded.</summary>
    private static async Task WaitUntil(Func<Task<bool>> condition, string what, int seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out after {seconds}s waiting until {what}");
            await Task.Delay(50);
        }
    }

    private static async Task<RpcException> Refused(Func<Task> call, StatusCode code, string? message = null)
    {
        var error = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(code, error.StatusCode);
        if (message is not null) Assert.Equal(message, error.Status.Detail);
        return error;
    }

    [Fact]
    public async Task An_anonymous_connect_gets_an_identity_and_a_token_that_reconnects_as_the_same_identity()
    {
        string token, identity;
        using (var first = await A.ConnectAsync(Db))
        {
            (identity, token) = (first.Identity, first.Token);
            Assert.Matches("^[0-9a-f]{64}$", identity);
            Assert.Matches("^[0-9a-f]{32}$", first.Hello.ConnectionId);
            Assert.True(await Online(identity));
            await first.CloseAsync();
        }
        using var again = await B.ConnectAsync(Db, token);
        Assert.Equal(identity, again.Identity);
        Assert.Equal(token, again.Token);
        await again.CloseAsync();
    }

    [Fact]
    public async Task The_quickstart_through_the_gateway_leaves_rows_in_PostgreSQL()
    {
        var (identity, token) = await A.CreateIdentityAsync();
        Assert.Matches("^[0-9a-f]{64}$", identity);
        using var connection = await A.ConnectAsync(Db, token);
        Assert.Equal(identity, connection.Identity);

        var named = await connection.CallAsync("set_name", """["Alice"]""");
        Assert.Equal(0, named.Outcome.Code);
        var sent = await connection.CallAsync("send_message", """["Hello, World!"]""");
        Assert.Equal(0, sent.Outcome.Code);
        Assert.True(sent.Outcome.MessageOffset > 0);
        var unary = await A.Chat.CallReducerAsync(new V1.CallReducerRequest { Database = Db, Reducer = "send_message", ArgsJson = """["Hello again"]""" }, TestGateway.Bearer(token));
        Assert.Equal(sent.Outcome.MessageOffset + 1, unary.MessageOffset);
        var typed = await B.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = Db, Text = "typed" }, TestGateway.Bearer(token));
        Assert.Equal(unary.MessageOffset + 1, typed.MessageOffset);

        var rows = await TestPostgres.RowsAsync(fixture.ConnectionString, """
            SELECT m.text, u.name FROM chat.message m JOIN chat."user" u ON u.database_id = m.database_id AND u.identity = m.sender
            JOIN chat.database d ON d.id = m.database_id
            WHERE d.name = @db AND m."offset" >= @from ORDER BY m."offset"
            """, ("db", Db), ("from", (long)sent.Outcome.MessageOffset));
        Assert.Equal(["Hello, World!", "Hello again", "typed"], rows.Select(r => (string)r[0]!));
        Assert.All(rows, r => Assert.Equal("Alice", r[1]));
        await connection.CloseAsync();
    }

    [Fact]
    public async Task Forged_foreign_malformed_and_expired_tokens_are_refused_and_run_nothing()
    {
        var (_, good) = await A.CreateIdentityAsync();
        var parts = good.Split('.');
        var forgedPayload = Base64UrlEncoder.Encode("""{"sub":"0000000000000000000000000000000000000000000000000000000000000001","iss":"chat-on-orleans","aud":"chat","exp":4102444800}""");
        var otherKey = new SymmetricSecurityKey(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var ourKey = new SymmetricSecurityKey(Convert.FromBase64String(TestGateway.SigningKey));
        var now = DateTime.UtcNow;
        var tokens = new Dictionary<string, string>
        {
            ["forged"] = $"{parts[0]}.{forgedPayload}.{parts[2]}",
            ["other key"] = Sign(otherKey, now, now.AddHours(1)),
            ["malformed"] = "not-a-jwt",
            ["expired"] = Sign(ourKey, now.AddHours(-2), now.AddHours(-1)),
        };
        var before = await MessageCount();
        foreach (var (kind, token) in tokens)
        {
            var unary = await Refused(() => A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = Db, Text = kind }, TestGateway.Bearer(token)).ResponseAsync,
                StatusCode.Unauthenticated);
            Assert.False(string.IsNullOrWhiteSpace(unary.Status.Detail));
            await Refused(() => A.ConnectAsync(Db, token), StatusCode.Unauthenticated);
        }
        Assert.Equal("The token has expired; create a new identity or sign in again.",
            (await Refused(() => A.Chat.SetNameAsync(new V1.SetNameRequest { Database = Db, Name = "x" }, TestGateway.Bearer(tokens["expired"])).ResponseAsync, StatusCode.Unauthenticated)).Status.Detail);
        Assert.Equal(before, await MessageCount());
        Assert.Null(await Online("0000000000000000000000000000000000000000000000000000000000000001"));

        static string Sign(SecurityKey key, DateTime from, DateTime until) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "chat-on-orleans",
            Audience = "chat",
            Subject = new ClaimsIdentity([new Claim("sub", Identity.Random().ToString())]),
            IssuedAt = from,
            NotBefore = from,
            Expires = until,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }

    [Fact]
    public async Task Tokens_of_a_configured_external_issuer_map_to_an_identity_derived_from_issuer_and_subject()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var key = new RsaSecurityKey(rsa) { KeyId = "test-key" };
        var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(rsa.ExportParameters(false)) { KeyId = "test-key" });
        var jwks = System.Text.Json.JsonSerializer.Serialize(new { keys = new[] { new { kty = jwk.Kty, kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } } });
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Auth:ExternalIssuers:0:Issuer"] = "https://login.example.test",
            ["Chat:Auth:ExternalIssuers:0:Audience"] = "chat-app",
            ["Chat:Auth:ExternalIssuers:0:Jwks"] = jwks,
        });
        var now = DateTime.UtcNow;
        string Token(string audience) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "https://login.example.test",
            Audience = audience,
            Subject = new ClaimsIdentity([new Claim("sub", "user-42")]),
            IssuedAt = now, NotBefore = now, Expires = now.AddMinutes(10),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });

        using var connection = await gateway.ConnectAsync(Db, Token("chat-app"));
        Assert.Equal(Chat.Frontend.TokenService.DeriveIdentity("https://login.example.test", "user-42").ToString(), connection.Identity);
        await connection.CloseAsync();
        await Refused(() => gateway.ConnectAsync(Db, Token("someone-else")), StatusCode.Unauthenticated, "The token is for another audience.");
        // The same external token means nothing to a gateway that does not trust its issuer.
        await Refused(() => A.ConnectAsync(Db, Token("chat-app")), StatusCode.Unauthenticated, "Tokens from issuer 'https://login.example.test' are not accepted here.");
    }

    [Fact]
    public async Task Unary_calls_without_a_token_are_refused()
    {
        await Refused(() => A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = Db, Text = "hi" }).ResponseAsync, StatusCode.Unauthenticated,
            "This call needs a token: send the metadata `authorization: Bearer <token>` (CreateIdentity gives you one).");
        await Refused(() => A.Databases.ListAsync(new V1.ListRequest()).ResponseAsync, StatusCode.Unauthenticated);
    }

    [Fact]
    public async Task Online_follows_connections_across_two_gateways_and_an_abrupt_cancel()
    {
        var (identity, token) = await A.CreateIdentityAsync();
        using var onA = await A.ConnectAsync(Db, token);
        using var cancelB = new CancellationTokenSource();
        var onB = await B.ConnectAsync(Db, token, cancelB.Token);
        Assert.True(await Online(identity));

        await onA.CloseAsync();
        // Give the first disconnect time to land, then check the second connection still holds the user online.
        await WaitUntil(async () => await TestPostgres.ScalarAsync<long>(fixture.ConnectionString,
            "SELECT count(*) FROM chat.connection WHERE identity = @i", ("i", Identity.Parse(identity).ToBytes())) == 1, "the first connection is gone");
        Assert.True(await Online(identity));

        cancelB.Cancel(); // the client vanishes without completing its stream
        onB.Dispose();
        await WaitUntil(async () => await Online(identity) == false, "the user is offline after the abrupt cancel");
    }

    [Fact]
    public async Task Two_gateways_see_the_same_users()
    {
        using var onA = await A.ConnectAsync(Db);
        Assert.Equal(0, (await onA.CallAsync("set_name", """["Bea"]""")).Outcome.Code);
        // B has never seen this identity, but the user exists in the cluster: set_name through B works.
        await B.Chat.SetNameAsync(new V1.SetNameRequest { Database = Db, Name = "Beatrice" }, TestGateway.Bearer(onA.Token));
        var user = await fixture.Cluster.Client.GetUserGrain(Db, Identity.Parse(onA.Identity)).Read();
        Assert.Equal("Beatrice", user!.Name);
        await onA.CloseAsync();
    }

    [Theory]
    [InlineData("set_name", """[""]""", StatusCode.InvalidArgument, "Names must not be empty")]
    [InlineData("send_message", """[""]""", StatusCode.InvalidArgument, "Messages must not be empty")]
    [InlineData("send_message", """["Hello", "World"]""", StatusCode.InvalidArgument, "send_message takes 1 argument (text: string) as a JSON array, like [\"Hello, World!\"]; got 2.")]
    [InlineData("send_message", """[42]""", StatusCode.InvalidArgument, "Argument 1 (text) of send_message must be a string, not a number.")]
    [InlineData("send_message", """{"text": "hi"}""", StatusCode.InvalidArgument, "args_json must be a JSON array, not an object; send_message takes 1 argument (text: string) as a JSON array, like [\"Hello, World!\"].")]
    [InlineData("send_message", """["unterminated""", StatusCode.InvalidArgument, null)]
    [InlineData("shout", """["hi"]""", StatusCode.NotFound, "No reducer 'shout' in database 'quickstart'. Reducers: set_name(name: string), send_message(text: string).")]
    [InlineData("identity_connected", "[]", StatusCode.PermissionDenied, "identity_connected is a lifecycle reducer: the server runs it when a client connects or disconnects; clients cannot call it.")]
    [InlineData("identity_disconnected", "[]", StatusCode.PermissionDenied, null)]
    public async Task Bad_reducer_calls_get_their_status_and_message_and_change_nothing(string reducer, string args, StatusCode code, string? message)
    {
        using var connection = await A.ConnectAsync(Db);
        var before = await MessageCount();

        var unary = await Refused(() => A.Chat.CallReducerAsync(new V1.CallReducerRequest { Database = Db, Reducer = reducer, ArgsJson = args }, TestGateway.Bearer(connection.Token)).ResponseAsync, code, message);
        var streamed = await connection.CallAsync(reducer, args);
        Assert.Equal((int)code, streamed.Outcome.Code);
        Assert.Equal(unary.Status.Detail, streamed.Outcome.Error);
        Assert.Equal(reducer, streamed.Reducer);

        Assert.Equal(before, await MessageCount());
        Assert.Null((await fixture.Cluster.Client.GetUserGrain(Db, Identity.Parse(connection.Identity)).Read())!.Name);
        Assert.True(await Online(connection.Identity)); // the connection survives its bad calls
        await connection.CloseAsync();
    }

    [Fact]
    public async Task Concurrent_sends_through_one_gateway_each_get_their_own_answer()
    {
        // The gateway coalesces concurrent sends to one database into one grain call: every caller must still get the
        // outcome of its own message, a bad message must fail alone, and the log must hold exactly the good ones.
        var (db, _, _) = await fixture.NewDatabaseAsync("coalesced");
        var connections = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => A.ConnectAsync(db)));
        var run = Guid.NewGuid().ToString("N")[..8];
        var streamed = connections.SelectMany((c, i) => Enumerable.Range(0, 8).Select(async j =>
        {
            await Task.Yield();
            var text = j == 3 ? "" : $"{run} stream {i}.{j}";
            var result = await c.CallAsync("send_message", System.Text.Json.JsonSerializer.Serialize(new[] { text }));
            return new Answer(c.Identity, text, result.Outcome.Code, result.Outcome.MessageOffset);
        }));
        var unary = connections.SelectMany((c, i) => Enumerable.Range(0, 4).Select(async j =>
        {
            var text = j == 1 ? "bad\u0007bell" : $"{run} unary {i}.{j}";
            try
            {
                var reply = await A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = text }, TestGateway.Bearer(c.Token));
                return new Answer(c.Identity, text, 0, reply.MessageOffset);
            }
            catch (RpcException e)
            {
                return new Answer(c.Identity, text, (int)e.StatusCode, 0);
            }
        }));
        var answers = await Task.WhenAll(streamed.Concat(unary));

        Assert.All(answers.Where(a => !a.Text.StartsWith(run, StringComparison.Ordinal)), a => Assert.Equal((int)StatusCode.InvalidArgument, a.Code));
        var good = answers.Where(a => a.Text.StartsWith(run, StringComparison.Ordinal)).ToList();
        Assert.All(good, a => Assert.Equal(0, a.Code));
        Assert.Equal(12 * 7 + 12 * 3, good.Count);
        Assert.Equal(good.Count, good.Select(a => a.MessageOffset).Distinct().Count());
        var stored = (await TestPostgres.RowsAsync(fixture.ConnectionString, """
            SELECT m."offset", m.sender, m.text FROM chat.message m JOIN chat.database d ON d.id = m.database_id
            WHERE d.name = @db
            """, ("db", db))).ToDictionary(r => (long)r[0]!, r => (Identity.FromBytes((byte[])r[1]!).ToString(), (string)r[2]!));
        Assert.Equal(good.Count, stored.Count);
        Assert.All(good, a => Assert.Equal((a.Identity, a.Text), stored[(long)a.MessageOffset]));
        Assert.Equal(Enumerable.Range(1, good.Count).Select(i => (long)i), stored.Keys.Order()); // gap-free
        foreach (var c in connections)
        {
            await c.CloseAsync();
            c.Dispose();
        }
    }

    [Fact]
    public async Task Calls_made_without_waiting_take_effect_and_are_answered_in_the_order_they_were_made()
    {
        // A client may keep many calls outstanding on its stream. Sends run together, but a set_name between them
        // splits them: the sends before it see no name (refused), the ones after it see the name; offsets follow call order.
        var (db, _, _) = await fixture.NewDatabaseAsync("pipelined", new V1.DatabaseSettings { MessagesPerSecond = 0, RequireNameToSend = true });
        using var connection = await A.ConnectAsync(db);
        var calls = new List<Task<V1.ReducerResult>>();
        for (var i = 0; i < 10; i++) calls.Add(connection.CallAsync("send_message", $"[\"before {i}\"]"));
        calls.Add(connection.CallAsync("set_name", """["Pipelined"]"""));
        for (var i = 0; i < 40; i++) calls.Add(connection.CallAsync("send_message", $"[\"after {i}\"]"));
        var results = await Task.WhenAll(calls);

        Assert.All(results[..10], r => Assert.Equal((int)StatusCode.FailedPrecondition, r.Outcome.Code));
        Assert.Equal(0, results[10].Outcome.Code);
        var sent = results[11..];
        Assert.All(sent, r => Assert.Equal(0, r.Outcome.Code));
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (ulong)i), sent.Select(r => r.Outcome.MessageOffset));
        Assert.Equal(results.Select(r => r.RequestId), connection.Answered);
        var stored = await TestPostgres.RowsAsync(fixture.ConnectionString, """
            SELECT m.text FROM chat.message m JOIN chat.database d ON d.id = m.database_id WHERE d.name = @db ORDER BY m."offset"
            """, ("db", db));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"after {i}"), stored.Select(r => (string)r[0]!));
        await connection.CloseAsync();
    }

    private sealed record Answer(string Identity, string Text, int Code, ulong MessageOffset);

    [Fact]
    public async Task Set_name_for_an_identity_that_never_connected_is_a_failed_precondition()
    {
        var (identity, token) = await A.CreateIdentityAsync();
        await Refused(() => A.Chat.SetNameAsync(new V1.SetNameRequest { Database = Db, Name = "Nobody" }, TestGateway.Bearer(token)).ResponseAsync,
            StatusCode.FailedPrecondition, "Cannot set name for unknown user");
        Assert.Null(await Online(identity));
    }

    [Fact]
    public async Task Unknown_and_invalid_databases_are_reported()
    {
        var (_, token) = await A.CreateIdentityAsync();
        await Refused(() => A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = "no-such-db", Text = "hi" }, TestGateway.Bearer(token)).ResponseAsync,
            StatusCode.NotFound, "Database 'no-such-db' does not exist.");
        await Refused(() => A.ConnectAsync("no-such-db", token), StatusCode.NotFound);
        await Refused(() => A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = "Not_Valid", Text = "hi" }, TestGateway.Bearer(token)).ResponseAsync,
            StatusCode.InvalidArgument);
        await Refused(() => A.ConnectAsync("", token), StatusCode.InvalidArgument, "A database name must not be empty.");
    }

    [Fact]
    public async Task Rate_limits_are_resource_exhausted()
    {
        var (_, owner) = await A.CreateIdentityAsync();
        await A.Databases.PublishAsync(new V1.PublishRequest
        {
            Database = "limited",
            Settings = new V1.DatabaseSettings { MessageBurst = 2, MessagesPerSecond = 0.01 },
        }, TestGateway.Bearer(owner));
        for (var i = 0; i < 2; i++)
            await A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = "limited", Text = "ok" }, TestGateway.Bearer(owner));
        var limited = await Refused(() => A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = "limited", Text = "one too many" }, TestGateway.Bearer(owner)).ResponseAsync,
            StatusCode.ResourceExhausted);
        Assert.StartsWith("Too many messages", limited.Status.Detail);
    }

    [Fact]
    public async Task Databases_are_published_listed_and_deleted_by_their_owner_only()
    {
        var (ownerIdentity, owner) = await A.CreateIdentityAsync();
        var (_, stranger) = await A.CreateIdentityAsync();
        var published = await A.Databases.PublishAsync(new V1.PublishRequest { Database = "owned" }, TestGateway.Bearer(owner));
        Assert.True(published.Created);
        Assert.Equal(ownerIdentity, published.Database.OwnerIdentity);
        Assert.Equal(64u, published.Database.Settings.MaxNameLength);

        var listed = await B.Databases.ListAsync(new V1.ListRequest(), TestGateway.Bearer(stranger));
        Assert.Contains(listed.Databases, d => d.Name == "owned" && d.OwnerIdentity == ownerIdentity);

        await Refused(() => A.Databases.PublishAsync(new V1.PublishRequest { Database = "owned" }, TestGateway.Bearer(stranger)).ResponseAsync, StatusCode.PermissionDenied);
        await Refused(() => A.Databases.DeleteAsync(new V1.DeleteRequest { Database = "owned" }, TestGateway.Bearer(stranger)).ResponseAsync, StatusCode.PermissionDenied);
        await Refused(() => A.Databases.PublishAsync(new V1.PublishRequest { Database = "Bad Name" }, TestGateway.Bearer(owner)).ResponseAsync, StatusCode.InvalidArgument);
        await Refused(() => A.Databases.PublishAsync(new V1.PublishRequest { Database = "bad-settings", Settings = new V1.DatabaseSettings { MaxNameLength = 0 } }, TestGateway.Bearer(owner)).ResponseAsync,
            StatusCode.InvalidArgument, "MaxNameLength must be between 1 and 1024.");

        await A.Databases.DeleteAsync(new V1.DeleteRequest { Database = "owned" }, TestGateway.Bearer(owner));
        Assert.DoesNotContain((await A.Databases.ListAsync(new V1.ListRequest(), TestGateway.Bearer(owner))).Databases, d => d.Name == "owned");
        await Refused(() => A.Databases.DeleteAsync(new V1.DeleteRequest { Database = "owned" }, TestGateway.Bearer(owner)).ResponseAsync, StatusCode.NotFound);
    }

    [Fact]
    public async Task Oversized_requests_are_refused()
    {
        var (_, token) = await A.CreateIdentityAsync();
        await Refused(() => A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = Db, Text = new string('x', 100_000) }, TestGateway.Bearer(token)).ResponseAsync,
            StatusCode.ResourceExhausted);
    }

    [Fact]
    public async Task Connections_per_identity_are_limited_on_each_gateway()
    {
        await using var strict = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?> { ["Chat:Gateway:MaxConnectionsPerIdentity"] = "2" });
        var (_, token) = await strict.CreateIdentityAsync();
        using var one = await strict.ConnectAsync(Db, token);
        using var two = await strict.ConnectAsync(Db, token);
        var refused = await Refused(() => strict.ConnectAsync(Db, token), StatusCode.ResourceExhausted);
        Assert.Contains("the limit is 2", refused.Status.Detail);
        await one.CloseAsync();
        using var three = await strict.ConnectAsync(Db, token); // a slot was freed
        await two.CloseAsync();
        await three.CloseAsync();
    }

    [Fact]
    public async Task Health_reflection_and_readiness_are_served()
    {
        var channel = Grpc.Net.Client.GrpcChannel.ForAddress(A.Address);
        var health = new Grpc.Health.V1.Health.HealthClient(channel);
        var status = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, status.Status);

        var reflection = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("chat.v1.Chat", services);
        Assert.Contains("chat.v1.Databases", services);
    }

    [Fact]
    public async Task A_gateway_shutting_down_ends_its_connections_and_its_users_go_offline()
    {
        var leaving = await TestGateway.StartAsync(fixture.Cluster.Client);
        var gatewayId = leaving.Registry.GatewayId;
        var connection = await leaving.ConnectAsync(Db);
        Assert.True(await Online(connection.Identity));

        await leaving.DisposeAsync(); // graceful: the stream ends, identity_disconnected runs, the gateway deregisters
        Assert.False(await Online(connection.Identity));
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(fixture.ConnectionString, "SELECT count(*) FROM chat.gateway WHERE id = @id", ("id", gatewayId)));
        connection.Dispose();
    }

    [Fact]
    public async Task A_gateway_that_stops_heartbeating_has_its_users_taken_offline_by_the_cluster()
    {
        // Connections recorded for a gateway that never heartbeats look exactly like those of a gateway that died.
        var (identity, ghostGateway) = (Identity.Random(), Guid.NewGuid());
        var connected = await fixture.Cluster.Client.GetUserGrain(Db, identity).IdentityConnected(new ReducerCaller(identity, ConnectionId.New()), ghostGateway);
        Assert.True(connected.IsCommitted);
        Assert.True(await Online(identity.ToString()));
        await WaitUntil(async () => await Online(identity.ToString()) == false, "the janitor ends the dead gateway's connection", seconds: 60);
    }
}
