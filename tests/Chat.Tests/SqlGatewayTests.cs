using Grpc.Core;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>`spacetime sql` through the gateway: the seed's check, errors, isolation between databases, the row cap.</summary>
public class SqlGatewayTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private TestGateway Gateway => fixture.A;
    private Task<(string Database, string Token, string Identity)> NewDatabase() =>
        fixture.NewDatabaseAsync("sql", new V1.DatabaseSettings { MessagesPerSecond = 0 });

    private Task<V1.SqlResponse> Sql(string database, string token, string query) =>
        Gateway.Chat.SqlAsync(new V1.SqlRequest { Database = database, Query = query }, TestGateway.Bearer(token)).ResponseAsync;

    private async Task<RpcException> Refused(string database, string token, string query, StatusCode code)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => Sql(database, token, query));
        Assert.Equal(code, error.StatusCode);
        return error;
    }

    [Fact]
    public async Task The_seeds_select_star_from_message_shows_hello_world()
    {
        var (db, token, identity) = await NewDatabase();
        await Gateway.Chat.CallReducerAsync(new V1.CallReducerRequest { Database = db, Reducer = "send_message", ArgsJson = """["Hello, World!"]""" }, TestGateway.Bearer(token));
        var result = await Sql(db, token, "SELECT * FROM Message");
        Assert.Equal(["sender", "sent", "text", "offset"], result.Columns.Select(c => c.Name));
        Assert.Equal([V1.SqlType.Identity, V1.SqlType.Timestamp, V1.SqlType.String, V1.SqlType.U64], result.Columns.Select(c => c.Type));
        var row = Assert.Single(result.Rows);
        Assert.Equal("0x" + identity, row.Values[0].Identity);
        Assert.Equal("Hello, World!", row.Values[2].String);
        Assert.Equal(1ul, row.Values[3].U64);
        Assert.False(result.Truncated);
    }

    [Fact]
    public async Task Users_and_joins_and_paging_work_on_real_rows()
    {
        var (db, token, identity) = await NewDatabase();
        using var connection = await Gateway.ConnectAsync(db, token);
        await connection.CallAsync("set_name", """["Ada"]""");
        for (var i = 1; i <= 5; i++) await connection.CallAsync("send_message", $"""["m{i}"]""");

        var users = await Sql(db, token, "select identity, name, online from user where identity = :sender");
        Assert.Equal(["0x" + identity, "Ada"], new[] { users.Rows.Single().Values[0].Identity, users.Rows.Single().Values[1].String });
        Assert.True(users.Rows.Single().Values[2].Bool);

        var page = await Sql(db, token, "SELECT u.name AS who, m.text FROM Message m JOIN User u ON m.sender = u.identity ORDER BY m.offset DESC LIMIT 2 OFFSET 1");
        Assert.Equal(["who", "text"], page.Columns.Select(c => c.Name));
        Assert.Equal(["m4", "m3"], page.Rows.Select(r => r.Values[1].String));
        Assert.All(page.Rows, r => Assert.Equal("Ada", r.Values[0].String));

        var count = await Sql(db, token, "SELECT COUNT(*) AS n FROM Message WHERE text != 'm1' AND NOT (offset > 4)");
        Assert.Equal(3ul, count.Rows.Single().Values[0].U64); // offsets 2, 3 and 4
        await connection.CloseAsync();
    }

    [Theory]
    [InlineData("DELETE FROM Message", "Only SELECT")]
    [InlineData("DROP TABLE Message", "Only SELECT")]
    [InlineData("SELECT * FROM Message; DELETE FROM Message", null)]
    [InlineData("SELECT * FROM Message WHERE text = ''; DROP TABLE chat.message; --'", null)]
    [InlineData("SELECT * FROM Mesage", "Mesage")]
    [InlineData("SELECT bogus FROM Message", "bogus")]
    [InlineData("SELECT * FORM Message", "line 1, column")]
    public async Task Anything_but_a_valid_select_is_invalid_and_changes_nothing(string query, string? mentions)
    {
        var (db, token, _) = await NewDatabase();
        await Gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "keep me" }, TestGateway.Bearer(token));
        var error = await Refused(db, token, query, StatusCode.InvalidArgument);
        if (mentions is not null) Assert.Contains(mentions, error.Status.Detail);
        Assert.Equal(1, await TestPostgres.ScalarAsync<long>(fixture.ConnectionString, "SELECT count(*) FROM chat.messages WHERE database = @db", ("db", db)));
    }

    [Fact]
    public async Task A_query_never_sees_another_databases_rows()
    {
        var (mine, token, _) = await NewDatabase();
        var (theirs, theirToken, _) = await NewDatabase();
        await Gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = theirs, Text = "secret" }, TestGateway.Bearer(theirToken));
        foreach (var query in new[] { "SELECT * FROM Message", "SELECT * FROM Message WHERE text = 'secret' OR true", "SELECT COUNT(*) FROM Message m JOIN User u ON m.sender = u.identity" })
        {
            var result = await Sql(mine, token, query);
            Assert.All(result.Rows, r => Assert.DoesNotContain(r.Values, v => v.String == "secret"));
            if (query.Contains("COUNT")) Assert.Equal(0ul, result.Rows.Single().Values[0].U64);
        }
    }

    [Fact]
    public async Task Results_cut_by_the_row_cap_say_so()
    {
        var (db, token, _) = await NewDatabase();
        await Task.WhenAll(Enumerable.Range(0, 520).Select(i => Gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = $"n{i}" }, TestGateway.Bearer(token)).ResponseAsync));
        var result = await Sql(db, token, "SELECT * FROM Message");
        Assert.True(result.Truncated);
        Assert.Equal(500, result.Rows.Count);
        Assert.Contains("row cap", result.Notice);
    }

    [Fact]
    public async Task Unknown_databases_and_missing_tokens_are_refused()
    {
        var (_, token, _) = await NewDatabase();
        await Refused("no-such-sql", token, "SELECT * FROM User", StatusCode.NotFound);
        var error = await Assert.ThrowsAsync<RpcException>(() => Gateway.Chat.SqlAsync(new V1.SqlRequest { Database = "x", Query = "SELECT * FROM User" }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }
}
