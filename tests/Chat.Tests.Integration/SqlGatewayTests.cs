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

    [Fact]
    public async Task SpacetimeDBs_query_forms_work_through_the_gateway_in_Sql_and_in_subscriptions()
    {
        var (db, token, identity) = await NewDatabase();
        using var connection = await Gateway.ConnectAsync(db, token);
        await connection.CallAsync("set_name", """["Ada"]""");
        for (var i = 1; i <= 3; i++) await connection.CallAsync("send_message", $"""["m{i}"]""");

        // The row-level-security form: a join without ON, linked in WHERE; one User row per message of the caller's.
        var mine = await Sql(db, token, "SELECT User.* FROM User JOIN Message WHERE Message.sender = :sender AND User.identity = Message.sender");
        Assert.Equal(3, mine.Rows.Count);
        Assert.All(mine.Rows, r => Assert.Equal("Ada", r.Values[1].String));
        Assert.Equal(3ul, (await Sql(db, token, "SELECT COUNT(*) n FROM User CROSS JOIN Message")).Rows.Single().Values[0].U64);

        var aliased = await Sql(db, token, "select text t from Message where offset >= 1e0 and offset < +3");
        Assert.Equal(["t"], aliased.Columns.Select(c => c.Name));
        Assert.Equal(["m1", "m2"], aliased.Rows.Select(r => r.Values[0].String));
        Assert.Equal("n", (await Sql(db, token, "select count(*) n from Message")).Columns.Single().Name);
        foreach (var hex in new[] { identity, "0x" + identity, identity.ToUpperInvariant() })
            Assert.Equal("Ada", (await Sql(db, token, $"select * from User where identity = '{hex}'")).Rows.Single().Values[1].String);

        // As long as SpacetimeDB's 50,000 bytes, through a gRPC request of 64 KiB; one byte more is refused.
        const string select = "SELECT * FROM Message WHERE offset > 2 -- ";
        Assert.Single((await Sql(db, token, select + new string('x', 50_000 - select.Length))).Rows);
        var tooLong = await Refused(db, token, select + new string('x', 50_001 - select.Length), StatusCode.InvalidArgument);
        Assert.Contains("50001 bytes long in UTF-8; the limit is 50000 bytes", tooLong.Status.Detail);
        var fraction = await Refused(db, token, "SELECT * FROM Message WHERE offset = 1.5", StatusCode.InvalidArgument);
        Assert.Contains("The number 1.5 at line 1, column 38 is not a whole number", fraction.Status.Detail);

        // Subscriptions take the same literals, and a query of the full 50,000 bytes fits a connection's text budget.
        var subscription = await connection.SubscribeAsync(
            $"SELECT * FROM User WHERE identity = '0x{identity}'",
            select.Replace("> 2", "> 1e0", StringComparison.Ordinal) + new string('x', 50_000 - select.Length - 2));
        var snapshot = await connection.ReadSnapshotAsync(subscription);
        Assert.Equal("Ada", snapshot.Users.Single().Name);
        Assert.Equal([2ul, 3ul], snapshot.Messages.Select(m => m.Offset).Order());
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
    public async Task Results_past_the_size_limit_are_cut_and_say_so_and_wide_selects_are_refused()
    {
        var (db, token, _) = await NewDatabase();
        var text = new string('w', 4000);
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = $"{i}{text}" }, TestGateway.Bearer(token)).ResponseAsync));
        // 1,600 rows of ~8 KB: far past 2 MiB, and cut there, before the row cap (500 here) is reached.
        var result = await Sql(db, token, "SELECT a.text, b.text FROM Message a JOIN Message b ON a.sender = b.sender");
        Assert.True(result.Truncated);
        Assert.InRange(result.Rows.Count, 200, 270);
        Assert.Contains("size limit", result.Notice);
        Assert.InRange(result.CalculateSize(), 1_500_000, 2_300_000);

        var wide = await Refused(db, token, "SELECT " + string.Join(", ", Enumerable.Repeat("text", 65)) + " FROM Message", StatusCode.InvalidArgument);
        Assert.Contains("65 columns; the limit is 64", wide.Status.Detail);
        Assert.Equal(64, (await Sql(db, token, "SELECT " + string.Join(", ", Enumerable.Repeat("offset", 64)) + " FROM Message LIMIT 1")).Columns.Count);
    }

    [Fact]
    public async Task Concurrent_queries_past_an_identitys_or_an_addresss_limit_are_refused_at_once()
    {
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Gateway:MaxSqlQueriesPerIdentity"] = "2",
            ["Chat:Gateway:MaxSqlQueriesPerAddress"] = "3",
        });
        var (db, token, _) = await NewDatabase();
        var (_, other) = await gateway.CreateIdentityAsync();
        var (_, third) = await gateway.CreateIdentityAsync();
        Task<V1.SqlResponse> Query(string bearer) =>
            gateway.Chat.SqlAsync(new V1.SqlRequest { Database = db, Query = "SELECT * FROM Message" }, TestGateway.Bearer(bearer)).ResponseAsync;

        // Queries that wait on a lock are running as far as the gateway can tell, until the statement timeout (3 s) ends
        // them. On a machine so loaded that it ended one before both refusals were seen, the refusals prove nothing: the
        // round is run again (a bounded number of times), never judged.
        for (var round = 1; ; round++)
        {
            await using var blocker = new Npgsql.NpgsqlConnection(fixture.ConnectionString);
            await blocker.OpenAsync();
            await using var lockTransaction = await blocker.BeginTransactionAsync();
            await using (var lockTable = new Npgsql.NpgsqlCommand("LOCK TABLE chat.message IN ACCESS EXCLUSIVE MODE", blocker, lockTransaction))
                await lockTable.ExecuteNonQueryAsync();
            var running = new[] { Query(token), Query(token), Query(other) };
            await WaitForLockWaiters(3, running);

            var mine = await Record.ExceptionAsync(() => Query(token));
            var theirs = await Record.ExceptionAsync(() => Query(third));
            var heldThroughout = running.All(query => !query.IsCompleted);
            await lockTransaction.RollbackAsync();
            foreach (var query in running)
            {
                // Admitted: they ran (or, on a machine so slow that the lock outlived the statement timeout, were cancelled by it).
                try { await query; }
                catch (RpcException e) { Assert.NotEqual(StatusCode.ResourceExhausted, e.StatusCode); }
            }
            if (!heldThroughout && round < 5) continue;

            Assert.True(heldThroughout, "in five rounds the statement timeout always ended a held query before the refusals were seen");
            var mineRefused = Assert.IsType<RpcException>(mine);
            Assert.Equal(StatusCode.ResourceExhausted, mineRefused.StatusCode);
            Assert.Contains("the most one identity may run at once", mineRefused.Status.Detail);
            var theirsRefused = Assert.IsType<RpcException>(theirs);
            Assert.Equal(StatusCode.ResourceExhausted, theirsRefused.StatusCode);
            Assert.Contains("the most one address may run at once", theirsRefused.Status.Detail);
            break;
        }
        Assert.NotNull(await Query(third));
    }

    private async Task WaitForLockWaiters(int count, Task[] running)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await TestPostgres.ScalarAsync<long>(fixture.ConnectionString,
                   @"SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%chat.""message""%'") < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                var activity = await TestPostgres.RowsAsync(fixture.ConnectionString, "SELECT datname, state, wait_event_type, left(query, 200) FROM pg_stat_activity");
                Assert.Fail($"{count} queries never waited on the lock ({string.Join(", ", running.Select(t => t.Exception?.GetBaseException().Message ?? t.Status.ToString()))}): " + string.Join(" | ", activity.Select(r => string.Join(", ", r))));
            }
            await Task.Delay(20);
        }
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
