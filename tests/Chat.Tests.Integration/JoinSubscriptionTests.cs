using System.Globalization;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>
/// Join subscriptions over real Connect streams: each of SpacetimeDB's join forms gets the rows a fresh SQL query of it
/// returns (distinct, as a semijoin), and keeps them while both tables change, with no insert of a row the client has
/// and no delete of one it lacks.
/// </summary>
public class JoinSubscriptionTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    /// <summary>A client's copy of one subscription's rows, kept the way a SpacetimeDB client cache keeps it.</summary>
    private sealed class View
    {
        public Dictionary<string, V1.UserRow> Users { get; } = [];
        public Dictionary<ulong, V1.MessageRow> Messages { get; } = [];

        public void Load((List<V1.UserRow> Users, List<V1.MessageRow> Messages) snapshot)
        {
            foreach (var user in snapshot.Users) Assert.True(Users.TryAdd(user.Identity, user), $"user {user.Identity} twice in the snapshot");
            foreach (var message in snapshot.Messages) Assert.True(Messages.TryAdd(message.Offset, message), $"message {message.Offset} twice in the snapshot");
        }

        public void Apply(V1.TransactionUpdate update)
        {
            foreach (var table in update.Tables)
            {
                foreach (var user in table.DeletedUsers)
                    Assert.True(Users.Remove(user.Identity, out var had) && had.Equals(user), $"delete of user {user.Identity} ({user}), which the client does not hold as such");
                foreach (var message in table.DeletedMessages)
                    Assert.True(Messages.Remove(message.Offset), $"delete of message {message.Offset}, which the client does not hold");
                foreach (var user in table.InsertedUsers)
                    Assert.True(Users.TryAdd(user.Identity, user), $"insert of user {user.Identity}, which the client already holds");
                foreach (var message in table.InsertedMessages)
                    Assert.True(Messages.TryAdd(message.Offset, message), $"insert of message {message.Offset}, which the client already holds");
            }
        }

        public string Describe() =>
            string.Join(", ", Users.Values.OrderBy(u => u.Identity, StringComparer.Ordinal).Select(u => $"{u.Identity[..8]}:{(u.HasName ? u.Name : "-")}:{u.Online}")) + " | " +
            string.Join(", ", Messages.Keys.Order());
    }

    private Task<V1.SqlResponse> Sql(string database, string token, string query) =>
        fixture.A.Chat.SqlAsync(new V1.SqlRequest { Database = database, Query = query }, TestGateway.Bearer(token)).ResponseAsync;

    /// <summary>What a fresh ad hoc query of the subscription's text says its rows are, distinct, in <see cref="View.Describe"/>'s form.</summary>
    private async Task<string> Expected(string database, string token, string query)
    {
        var result = await Sql(database, token, query);
        Assert.False(result.Truncated);
        var view = new View();
        if (result.Columns[0].Name == "identity")
            foreach (var row in result.Rows)
            {
                var user = new V1.UserRow { Identity = row.Values[0].Identity[2..], Online = row.Values[2].Bool };
                if (row.Values[1].ValueCase == V1.SqlValue.ValueOneofCase.String) user.Name = row.Values[1].String;
                view.Users.TryAdd(user.Identity, user);
            }
        else
            foreach (var row in result.Rows)
                view.Messages.TryAdd(row.Values[3].U64, new V1.MessageRow { Offset = row.Values[3].U64, Text = row.Values[2].String });
        return view.Describe();
    }

    private sealed record Watcher(LiveConnection Connection, string Query, View View);

    private async Task<Watcher> Watch(string database, string query, string? name = null, TestGateway? via = null)
    {
        var connection = await (via ?? fixture.A).ConnectAsync(database);
        if (name is not null) Assert.Equal(0, (await connection.CallAsync("set_name", $"""["{name}"]""")).Outcome.Code);
        var view = new View();
        view.Load(await connection.ReadSnapshotAsync(await connection.SubscribeAsync(query)));
        return new Watcher(connection, query, view);
    }

    /// <summary>Applies updates as they come until the view is what a fresh query returns; a bad update fails at once.</summary>
    private async Task CatchUp(string database, Watcher watcher, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var expected = await Expected(database, watcher.Connection.Token, watcher.Query);
            if (watcher.View.Describe() == expected) return;
            while (watcher.Connection.Updates.TryRead(out var message))
            {
                Assert.NotEqual(V1.ServerMessage.MessageOneofCase.SubscriptionError, message.MessageCase);
                if (message.TransactionUpdate is { } update) watcher.View.Apply(update);
            }
            if (watcher.View.Describe() == expected) return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{watcher.Query}: after {seconds} s the client holds [{watcher.View.Describe()}], a fresh query returns [{expected}]");
            try { await watcher.Connection.Updates.WaitToReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(1)); }
            catch (TimeoutException) { }
        }
    }

    private static async Task Call(LiveConnection connection, string reducer, string argument) =>
        Assert.Equal(0, (await connection.CallAsync(reducer, $"""["{argument}"]""")).Outcome.Code);

    [Fact]
    public async Task Each_join_form_gets_the_rows_a_fresh_query_returns()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("joins", new V1.DatabaseSettings { MessagesPerSecond = 0 });
        using var alice = await fixture.A.ConnectAsync(db);
        await Call(alice, "set_name", "alice");
        await Call(alice, "send_message", "hello");
        await Call(alice, "send_message", "hello");
        await Call(alice, "send_message", "bye");
        using var bob = await fixture.A.ConnectAsync(db);
        await Call(bob, "set_name", "bob");
        await Call(bob, "send_message", "hi");
        using var nameless = await fixture.A.ConnectAsync(db);
        await Call(nameless, "send_message", "hello");

        string[] forms =
        [
            "SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity",
            "SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity WHERE u.name = 'alice'",
            "SELECT \"Message\".* FROM \"Message\" JOIN \"User\" ON \"Message\".\"sender\" = \"User\".\"identity\"",
            "SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender WHERE m.text = 'hello'",
            "SELECT a.* FROM User a JOIN User b ON a.name = b.name WHERE b.identity = :sender",
            "SELECT User.* FROM User JOIN Message WHERE Message.sender = :sender",
            "SELECT m.* FROM Message m CROSS JOIN User u WHERE m.sender = u.identity AND u.online",
            "SELECT u.* FROM User u CROSS JOIN Message m WHERE u.identity = m.sender AND m.offset > 2",
        ];
        foreach (var form in forms)
        {
            // Named alice, so that :sender means someone with messages and a namesake.
            var watcher = await Watch(db, form, "alice");
            Assert.Equal(await Expected(db, watcher.Connection.Token, form), watcher.View.Describe());
            Assert.True(watcher.View.Users.Count + watcher.View.Messages.Count > 0 || form.Contains(":sender", StringComparison.Ordinal), $"{form} matched nothing; the case tests too little");
            watcher.Connection.Dispose();
        }

        // The semijoin returns alice once, however many of her messages say hello.
        var hellos = await Watch(db, forms[3]);
        Assert.Equal(2, hellos.View.Users.Count);
        Assert.Contains(alice.Identity, hellos.View.Users.Keys);
        hellos.Connection.Dispose();
    }

    [Fact]
    public async Task Join_shapes_the_gateway_does_not_follow_are_refused_with_a_reason_and_the_connection_carries_on()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("joins", new V1.DatabaseSettings { MessagesPerSecond = 0 });
        using var client = await fixture.A.ConnectAsync(db);
        (string Query, string Reason)[] refused =
        [
            ("SELECT * FROM User u JOIN Message m ON u.identity = m.sender", "rows of one table"),
            ("SELECT a.* FROM Message a JOIN Message b ON a.sender = b.sender", "Message with itself"),
            ("SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender JOIN User v ON v.identity = m.sender", "at most two tables"),
            ("SELECT m.* FROM Message m JOIN User u ON m.text = u.name", "link them by sender"),
            ("SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender WHERE u.name = m.text", "is not maintained"),
            ("SELECT a.* FROM User a CROSS JOIN User b", "column equality"),
        ];
        foreach (var (query, reason) in refused)
        {
            var id = await client.SubscribeAsync(query);
            var error = (await client.NextUpdateAsync()).SubscriptionError;
            Assert.NotNull(error);
            Assert.Equal(id, error.RequestId);
            Assert.Contains(reason, error.Error, StringComparison.Ordinal);
        }

        // Four join queries per connection by default; the fifth is refused until one goes.
        var held = new List<uint>();
        for (var i = 0; i < 4; i++)
        {
            held.Add(await client.SubscribeAsync($"SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity WHERE m.offset > {i}"));
            await client.ReadSnapshotAsync(held[^1]);
        }
        var fifth = await client.SubscribeAsync("SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender");
        var limit = (await client.NextUpdateAsync()).SubscriptionError;
        Assert.NotNull(limit);
        Assert.Equal(fifth, limit.RequestId);
        Assert.Contains("at most 4", limit.Error, StringComparison.Ordinal);
        await client.UnsubscribeAsync(held[0]);
        Assert.Equal(V1.ServerMessage.MessageOneofCase.UnsubscribeApplied, (await client.NextUpdateAsync()).MessageCase);
        await client.ReadSnapshotAsync(await client.SubscribeAsync("SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender"));
        await client.CloseAsync();
    }

    [Fact]
    public async Task Join_subscriptions_follow_changes_on_both_tables_exactly()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("joins", new V1.DatabaseSettings { MessagesPerSecond = 0 });
        using var first = await fixture.A.ConnectAsync(db);
        await Call(first, "set_name", "alice");
        await Call(first, "send_message", "hello");
        await Call(first, "send_message", "one");
        using var second = await fixture.A.ConnectAsync(db);
        await Call(second, "set_name", "bob");
        await Call(second, "send_message", "two");

        var watchers = new[]
        {
            await Watch(db, "SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity WHERE u.name = 'alice'"),
            await Watch(db, "SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender WHERE m.text = 'hello'"),
            await Watch(db, "SELECT a.* FROM User a JOIN User b ON a.name = b.name WHERE b.identity = :sender", "alice"),
            await Watch(db, "SELECT User.* FROM User JOIN Message WHERE Message.sender = :sender"),
            await Watch(db, "SELECT \"Message\".* FROM \"Message\" CROSS JOIN \"User\" WHERE \"Message\".\"sender\" = \"User\".\"identity\" AND \"User\".\"online\""),
        };
        foreach (var watcher in watchers)
            Assert.Equal(await Expected(db, watcher.Connection.Token, watcher.Query), watcher.View.Describe());

        // Renamed into the condition: bob's earlier message appears, and he joins alice's namesakes.
        await Call(second, "set_name", "alice");
        // His first hello brings him into the users who said hello; the second must not bring him twice.
        await Call(second, "send_message", "hello");
        await Call(second, "send_message", "hello");
        // Renamed out of it: all of the first alice's messages leave, and she leaves the namesakes.
        await Call(first, "set_name", "carol");
        // A newcomer says hello without a name, takes the name, and goes.
        var third = await fixture.A.ConnectAsync(db);
        await Call(third, "send_message", "hello");
        await Call(third, "set_name", "alice");
        await third.CloseAsync();
        third.Dispose();
        // The fourth watcher's own first message makes every user its row; its own rename changes the namesakes' side.
        await Call(watchers[3].Connection, "send_message", "mine");
        await Call(watchers[2].Connection, "set_name", "carol");
        // Back into the condition, and a last message.
        await Call(first, "set_name", "alice");
        await Call(first, "send_message", "hello again");

        foreach (var watcher in watchers)
        {
            await CatchUp(db, watcher);
            // Whatever else has arrived must keep it so.
            while (watcher.Connection.Updates.TryRead(out var late))
                if (late.TransactionUpdate is { } update) watcher.View.Apply(update);
            Assert.Equal(await Expected(db, watcher.Connection.Token, watcher.Query), watcher.View.Describe());
        }
        // Every message but the fourth watcher's is by someone named alice now.
        Assert.Equal(7, watchers[0].View.Messages.Count);
        Assert.Equal(3, watchers[1].View.Users.Count);
        foreach (var watcher in watchers) watcher.Connection.Dispose();
    }

    [Fact]
    public async Task Join_subscriptions_started_while_both_tables_change_and_across_lost_deliveries_end_equal_to_a_fresh_query()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("joins", new V1.DatabaseSettings { MessagesPerSecond = 0 });
        using var stop = new CancellationTokenSource();
        var sent = 0;
        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            using var writer = await fixture.A.ConnectAsync(db);
            await Call(writer, "set_name", "w");
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await Call(writer, "send_message", $"w{w}-{i}");
                Interlocked.Increment(ref sent);
            }
            await writer.CloseAsync();
        })).ToList();
        // One user keeps moving in and out of the condition; newcomers say "go" and leave.
        writers.Add(Task.Run(async () =>
        {
            using var toggler = await fixture.A.ConnectAsync(db);
            await Call(toggler, "send_message", "toggler's");
            for (var i = 0; !stop.IsCancellationRequested; i++) await Call(toggler, "set_name", i % 2 == 0 ? "x" : "w");
            await toggler.CloseAsync();
        }));
        writers.Add(Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var newcomer = await fixture.A.ConnectAsync(db);
                await Call(newcomer, "send_message", "go");
                await newcomer.CloseAsync();
            }
        }));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Volatile.Read(ref sent) < 20)
        {
            Assert.True(DateTime.UtcNow < deadline, "the writers did not get going");
            await Task.Delay(20);
        }

        // Subscribed through the other gateway, mid-stream.
        var watchers = new[]
        {
            await Watch(db, "SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity WHERE u.name = 'w'", via: fixture.B),
            await Watch(db, "SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender WHERE m.text = 'go'", via: fixture.B),
            await Watch(db, "SELECT a.* FROM User a JOIN User b ON a.name = b.name WHERE b.identity = :sender", "w", fixture.B),
        };
        // The feed grain loses its subscribers mid-stream: the replicas repair from PostgreSQL.
        var before = Volatile.Read(ref sent);
        await fixture.Cluster.DeactivateAsync(fixture.Cluster.Client.GetChangeFeedGrain(db));
        while (Volatile.Read(ref sent) < before + 20)
        {
            Assert.True(DateTime.UtcNow < deadline.AddSeconds(60), "the writers stopped");
            await Task.Delay(20);
        }
        stop.Cancel();
        await Task.WhenAll(writers);

        foreach (var watcher in watchers)
        {
            await CatchUp(db, watcher, seconds: 90);
            Assert.NotEmpty(watcher.View.Users.Keys.Concat(watcher.View.Messages.Keys.Select(k => k.ToString(CultureInfo.InvariantCulture))));
            watcher.Connection.Dispose();
        }
    }
}
