using System.Net;
using System.Text;
using V1 = Chat.Api.V1;

namespace Chat.Tests.Http;

/// <summary>SpacetimeDB's <c>/v1/identity</c>, <c>call</c> and <c>sql</c> routes over real HTTP, on the real gateway and cluster.</summary>
public class HttpReducerAndSqlTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private TestGateway Gateway => fixture.A;

    private async Task<long> MessageCount(string database, string token)
    {
        var answer = await Gateway.Chat.SqlAsync(new V1.SqlRequest { Database = database, Query = "SELECT COUNT(*) AS n FROM Message" }, TestGateway.Bearer(token));
        return (long)answer.Rows[0].Values[0].U64;
    }

    [Fact]
    public async Task A_new_identity_comes_with_a_token_that_verifies_as_its_own_and_works_on_the_gRPC_API()
    {
        using var http = HttpApi.For(Gateway);
        var (identity, token) = await http.CreateIdentityAsync();
        Assert.Matches("^[0-9a-f]{64}$", identity);
        var (other, _) = await http.CreateIdentityAsync();

        Assert.Equal(HttpStatusCode.NoContent, (await http.SendAsync(HttpMethod.Get, $"/v1/identity/{identity}/verify", token)).Status);
        var mismatch = await http.SendAsync(HttpMethod.Get, $"/v1/identity/{other}/verify", token);
        Assert.Equal(HttpStatusCode.BadRequest, mismatch.Status);
        Assert.Contains($"belongs to identity {identity}", mismatch.Body);
        var missing = await http.SendAsync(HttpMethod.Get, $"/v1/identity/{identity}/verify");
        Assert.Equal(HttpStatusCode.Unauthorized, missing.Status);
        Assert.Contains("Authorization: Bearer", missing.Body);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(HttpMethod.Get, $"/v1/identity/{identity}/verify", token + "x")).Status);
        var malformed = await http.SendAsync(HttpMethod.Get, "/v1/identity/not-hex/verify", token);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.Contains("64 hex characters", malformed.Body);

        var database = await fixture.NewDatabaseAsync("http-token");
        await Gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = database.Database, Text = "from an HTTP identity" }, TestGateway.Bearer(token));
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(HttpMethod.Get, "/v1/ping")).Status);
    }

    [Fact]
    public async Task Set_name_and_send_message_commit_and_sql_answers_in_SpacetimeDBs_json()
    {
        using var http = HttpApi.For(Gateway);
        var (db, _, _) = await fixture.NewDatabaseAsync("http-call");
        var (identity, token) = await http.CreateIdentityAsync();

        // An identity that never connected: the call runs identity_connected first, as SpacetimeDB's does, so set_name finds the user.
        var named = await http.CallAsync(db, "set_name", """["Alice"]""", token);
        Assert.Equal(HttpStatusCode.OK, named.Status);
        Assert.Equal("", named.Body);
        Assert.Equal(HttpStatusCode.OK, (await http.CallAsync(db, "send_message", """["Hello over HTTP"]""", token)).Status);

        var users = await http.SqlAsync(db, "SELECT * FROM User", token);
        Assert.Contains("\"algebraic_type\":{\"Product\":{\"elements\":[{\"name\":{\"some\":\"__identity__\"},\"algebraic_type\":{\"U256\":[]}}]}}", users.Body);
        Assert.Contains("\"total_duration_micros\":", users.Body);
        Assert.Contains("\"stats\":{\"rows_inserted\":0,\"rows_deleted\":0,\"rows_updated\":0}", users.Body);
        var (columns, rows) = HttpApi.OnlyStatement(users);
        Assert.Equal(["identity", "name", "online"], columns);
        var alice = Assert.Single(rows);
        Assert.Equal("0x" + identity, alice[0][0].GetString());
        Assert.Equal("Alice", alice[1].GetString());
        Assert.False(alice[2].GetBoolean()); // identity_disconnected ran after the call

        var (messageColumns, messages) = HttpApi.OnlyStatement(await http.SqlAsync(db, "SELECT sender, sent, text FROM Message", token));
        Assert.Equal(["sender", "sent", "text"], messageColumns);
        var message = Assert.Single(messages);
        Assert.Equal("0x" + identity, message[0][0].GetString());
        var sent = DateTime.UnixEpoch.AddTicks(message[1][0].GetInt64() * 10);
        Assert.InRange(sent, DateTime.UtcNow.AddMinutes(-10), DateTime.UtcNow.AddMinutes(1));
        Assert.Equal("Hello over HTTP", message[2].GetString());
    }

    [Fact]
    public async Task Refused_calls_get_SpacetimeDBs_statuses_and_their_reasons_and_change_nothing()
    {
        using var http = HttpApi.For(Gateway);
        var (db, owner, _) = await fixture.NewDatabaseAsync("http-refused");
        var (_, token) = await http.CreateIdentityAsync();

        var failed = await http.CallAsync(db, "set_name", """[""]""", token);
        Assert.Equal(530, failed.Code); // the reducer ran and failed: its own error
        Assert.Equal("Names must not be empty", failed.Body.Trim());
        Assert.Equal("text/plain", failed.ContentType);

        var wrongType = await http.CallAsync(db, "send_message", "[1]", token);
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.Status);
        Assert.Contains("must be a string, not a number", wrongType.Body);
        var notArray = await http.CallAsync(db, "send_message", """{"text":"hi"}""", token);
        Assert.Equal(HttpStatusCode.BadRequest, notArray.Status);
        Assert.Contains("must be a JSON array", notArray.Body);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.CallAsync(db, "send_message", "[\"unterminated", token)).Status);
        var lifecycle = await http.CallAsync(db, "identity_connected", "[]", token);
        Assert.Equal(HttpStatusCode.BadRequest, lifecycle.Status);
        Assert.Contains("lifecycle reducer", lifecycle.Body);
        var unknownReducer = await http.CallAsync(db, "shout", """["hi"]""", token);
        Assert.Equal(HttpStatusCode.NotFound, unknownReducer.Status);
        Assert.Contains("send_message(text: string)", unknownReducer.Body);
        var unknownDatabase = await http.CallAsync("no-such-db-http", "send_message", """["hi"]""", token);
        Assert.Equal(HttpStatusCode.NotFound, unknownDatabase.Status);
        Assert.Contains("no-such-db-http", unknownDatabase.Body);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.CallAsync("Bad Name!", "send_message", """["hi"]""", token)).Status);

        var form = await http.SendAsync(HttpMethod.Post, $"/v1/database/{db}/call/send_message", token, new StringContent("""["hi"]""", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.Status);
        Assert.Contains("application/json", form.Body);
        var huge = await http.CallAsync(db, "send_message", $"[\"{new string('x', 70_000)}\"]", token);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.Status);
        Assert.Contains("MaxRequestBytes", huge.Body);
        var badToken = await http.CallAsync(db, "send_message", """["hi"]""", "not-a-token");
        Assert.Equal(HttpStatusCode.Unauthorized, badToken.Status);

        Assert.Equal(0, await MessageCount(db, owner));
        // Refused before any grain saw them, they are in the module log all the same, as gRPC refusals are.
        var lines = HttpApi.LogLines(await http.LogsAsync(db, owner));
        Assert.Contains(lines, l => l is { Level: "Error", Target: "send_message" } && l.Message.Contains("must be a string"));
    }

    [Fact]
    public async Task A_call_or_a_query_without_a_token_runs_as_a_new_identity_given_in_the_headers()
    {
        using var http = HttpApi.For(Gateway);
        var (db, owner, _) = await fixture.NewDatabaseAsync("http-anon");
        var sent = await http.CallAsync(db, "send_message", """["anonymous hello"]""", token: null);
        Assert.Equal(HttpStatusCode.OK, sent.Status);
        var identity = Assert.Single(sent.Headers.GetValues("spacetime-identity"));
        var token = Assert.Single(sent.Headers.GetValues("spacetime-identity-token"));
        Assert.Equal(HttpStatusCode.NoContent, (await http.SendAsync(HttpMethod.Get, $"/v1/identity/{identity}/verify", token)).Status);

        var (_, rows) = HttpApi.OnlyStatement(await http.SqlAsync(db, "SELECT sender FROM Message", token: null));
        Assert.Equal("0x" + identity, Assert.Single(rows)[0][0].GetString());
        Assert.Equal(1, await MessageCount(db, owner));
    }

    [Fact]
    public async Task Sql_refusals_are_400_404_and_413_with_the_reason()
    {
        using var http = HttpApi.For(Gateway);
        var (db, owner, _) = await fixture.NewDatabaseAsync("http-sql");
        var bad = await http.SqlAsync(db, "SELECT * FROM Nope", owner);
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Contains("Nope", bad.Body);
        var write = await http.SqlAsync(db, "DELETE FROM Message", owner);
        Assert.Equal(HttpStatusCode.BadRequest, write.Status);
        Assert.NotEqual("", write.Body.Trim());
        var unknown = await http.SqlAsync("no-such-db-sql", "SELECT * FROM User", owner);
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await http.SqlAsync(db, "SELECT * FROM User WHERE name = '" + new string('a', 70_000) + "'", owner)).Status);
        var (columns, rows) = HttpApi.OnlyStatement(await http.SqlAsync(db, "SELECT COUNT(*) AS n FROM Message", owner));
        Assert.Equal(["n"], columns);
        Assert.Equal(0, Assert.Single(rows)[0].GetInt64());
    }
}
