using Grpc.Core;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>Live rows: snapshots that meet their updates exactly, filters, two gateways, slow consumers, lost deliveries repaired.</summary>
public class SubscriptionTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private async Task<(string Database, string OwnerToken)> NewDatabase()
    {
        var (name, token, _) = await fixture.NewDatabaseAsync("live", new V1.DatabaseSettings { MessagesPerSecond = 0 });
        return (name, token);
    }

    private static async Task<V1.TransactionUpdate> NextTransaction(LiveConnection connection)
    {
        var message = await connection.NextUpdateAsync();
        Assert.Equal(V1.ServerMessage.MessageOneofCase.TransactionUpdate, message.MessageCase);
        return message.TransactionUpdate;
    }

    private async Task<bool?> Online(string database, string identity)
    {
        var rows = await TestPostgres.RowsAsync(fixture.ConnectionString, """
            SELECT u.online FROM chat."user" u JOIN chat.database d ON d.id = u.database_id WHERE d.name = @db AND u.identity = @identity
            """, ("db", database), ("identity", Identity.Parse(identity).ToBytes()));
        return rows.Count == 0 ? null : (bool)rows[0][0]!;
    }

    /// <summary>Disconnects run after the stream ends, asynchronously to the client: wait for them, bounded.</summary>
    private static async Task WaitUntil(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out after {seconds}s waiting until {what}");
            await Task.Delay(50);
        }
    }

    private Task<V1.ReducerResponse> Send(string database, string token, string text, TestGateway? via = null) =>
        (via ?? fixture.A).Chat.SendMessageAsync(new V1.SendMessageRequest { Database = database, Text = text }, TestGateway.Bearer(token)).ResponseAsync;

    [Fact]
    public async Task Two_clients_of_the_walkthrough_see_each_others_names_and_messages_across_two_gateways()
    {
        var (db, _) = await NewDatabase();
        using var alice = await fixture.A.ConnectAsync(db);
        var subscription = await alice.SubscribeAsync("SELECT * FROM User", "SELECT * FROM Message");
        var snapshot = await alice.ReadSnapshotAsync(subscription);
        Assert.Contains(snapshot.Users, u => u.Identity == alice.Identity && u.Online);
        Assert.Empty(snapshot.Messages);

        using var bob = await fixture.B.ConnectAsync(db);
        var joined = await NextTransaction(alice);
        Assert.Equal("identity_connected", joined.Reducer);
        var inserted = Assert.Single(Assert.Single(joined.Tables).InsertedUsers);
        Assert.Equal((bob.Identity, true, false), (inserted.Identity, inserted.Online, inserted.HasName));
        Assert.False(joined.OwnCall);

        Assert.Equal(0, (await bob.CallAsync("set_name", """["Bob"]""")).Outcome.Code);
        var renamed = Assert.Single((await NextTransaction(alice)).Tables);
        Assert.Equal("User", renamed.Table);
        Assert.False(Assert.Single(renamed.DeletedUsers).HasName);
        Assert.Equal("Bob", Assert.Single(renamed.InsertedUsers).Name);

        Assert.Equal(0, (await bob.CallAsync("send_message", """["Hi Alice"]""")).Outcome.Code);
        var said = await NextTransaction(alice);
        Assert.Equal(("send_message", bob.Identity, bob.Hello.ConnectionId), (said.Reducer, said.CallerIdentity, said.CallerConnectionId));
        var message = Assert.Single(Assert.Single(said.Tables).InsertedMessages);
        Assert.Equal(("Hi Alice", bob.Identity, 1ul), (message.Text, message.Sender, message.Offset));

        await bob.CloseAsync();
        var left = Assert.Single((await NextTransaction(alice)).Tables);
        Assert.False(Assert.Single(left.InsertedUsers).Online);
        await alice.CloseAsync();
    }

    [Fact]
    public async Task The_callers_own_updates_carry_its_request_id()
    {
        var (db, _) = await NewDatabase();
        using var me = await fixture.A.ConnectAsync(db);
        await me.ReadSnapshotAsync(await me.SubscribeAsync("SELECT * FROM Message WHERE sender = :sender"));
        var result = await me.CallAsync("send_message", """["mine"]""");
        var update = await NextTransaction(me);
        Assert.True(update.OwnCall);
        Assert.Equal(result.RequestId, update.RequestId);
        Assert.Equal("committed", update.Status);
        await me.CloseAsync();
    }

    [Fact]
    public async Task The_snapshot_and_the_updates_after_it_meet_exactly_while_writers_run()
    {
        var (db, owner) = await NewDatabase();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var sent = 0;
            while (!stop.IsCancellationRequested || sent < 25) { await Send(db, owner, $"w{w}-{sent}"); sent++; }
        })).ToArray();
        await Task.Delay(300); // writers are at full speed when the subscription starts

        using var reader = await fixture.B.ConnectAsync(db);
        var (_, initial) = await reader.ReadSnapshotAsync(await reader.SubscribeAsync("SELECT * FROM Message"));
        await Task.Delay(500);
        stop.Cancel();
        await Task.WhenAll(writers);
        var total = await TestPostgres.ScalarAsync<long>(fixture.ConnectionString, "SELECT count(*) FROM chat.messages WHERE database = @db", ("db", db));

        var offsets = initial.Select(m => (long)m.Offset).ToList();
        Assert.Equal(Enumerable.Range(1, offsets.Count).Select(i => (long)i), offsets); // the snapshot is a consistent prefix
        while (offsets.Count < total)
        {
            foreach (var table in (await NextTransaction(reader)).Tables)
                offsets.AddRange(table.InsertedMessages.Select(m => (long)m.Offset));
        }
        Assert.Equal(Enumerable.Range(1, (int)total).Select(i => (long)i), offsets); // then every later one, in order, once
        Assert.True(initial.Count > 0 && initial.Count < total, $"the subscription should start mid-stream ({initial.Count} of {total})");
        await reader.CloseAsync();
    }

    [Fact]
    public async Task Filters_select_rows_and_bad_queries_get_an_error_without_closing_the_connection()
    {
        var (db, owner) = await NewDatabase();
        using var me = await fixture.A.ConnectAsync(db);
        var bad = await me.SubscribeAsync("SELECT name FROM User");
        var error = (await me.NextUpdateAsync()).SubscriptionError;
        Assert.Equal(bad, error.RequestId);
        Assert.Contains("SELECT * FROM one table", error.Error);
        var typo = await me.SubscribeAsync("SELECT * FROM Usr");
        Assert.Contains("Usr", (await me.NextUpdateAsync()).SubscriptionError.Error);

        await Send(db, owner, "old news");
        var (_, history) = await me.ReadSnapshotAsync(await me.SubscribeAsync("SELECT * FROM Message WHERE offset > 1 AND text != 'skip me'"));
        Assert.Empty(history);
        await Send(db, owner, "skip me");
        await Send(db, owner, "wanted");
        var update = await NextTransaction(me);
        Assert.Equal("wanted", Assert.Single(Assert.Single(update.Tables).InsertedMessages).Text);
        Assert.Equal(0, (await me.CallAsync("set_name", """["still here"]""")).Outcome.Code);
        await me.CloseAsync();
    }

    [Fact]
    public async Task Keyed_subscriptions_get_exactly_the_rows_whose_key_they_name_including_a_rows_old_value()
    {
        var (db, owner) = await NewDatabase();
        using var other = await fixture.A.ConnectAsync(db);
        using var me = await fixture.A.ConnectAsync(db);
        // Filed under sender = me, text = 'b' and name = 'Alice' by the gateway's index; the last one has no key.
        var mine = await me.SubscribeAsync("SELECT * FROM Message WHERE sender = :sender", "SELECT * FROM Message WHERE text = 'b' AND offset > 0");
        await me.ReadSnapshotAsync(mine);
        var alices = await me.SubscribeAsync("SELECT * FROM User WHERE name = 'Alice'");
        await me.ReadSnapshotAsync(alices);

        Assert.Equal(0, (await other.CallAsync("send_message", """["a"]""")).Outcome.Code);
        Assert.Equal(0, (await other.CallAsync("send_message", """["b"]""")).Outcome.Code);
        Assert.Equal(0, (await me.CallAsync("send_message", """["c"]""")).Outcome.Code);
        Assert.Equal("b", Assert.Single(Assert.Single((await NextTransaction(me)).Tables).InsertedMessages).Text);
        Assert.Equal("c", Assert.Single(Assert.Single((await NextTransaction(me)).Tables).InsertedMessages).Text);

        Assert.Equal(0, (await other.CallAsync("set_name", """["Alice"]""")).Outcome.Code);
        var named = Assert.Single((await NextTransaction(me)).Tables);
        Assert.Equal(("Alice", 0), (Assert.Single(named.InsertedUsers).Name, named.DeletedUsers.Count));
        // Renamed away: only the old row holds the key, and the set that saw it must hear that it is gone.
        Assert.Equal(0, (await other.CallAsync("set_name", """["Bob"]""")).Outcome.Code);
        var renamed = Assert.Single((await NextTransaction(me)).Tables);
        Assert.Equal(("Alice", 0), (Assert.Single(renamed.DeletedUsers).Name, renamed.InsertedUsers.Count));
        await Send(db, owner, "nothing for me");
        Assert.Equal(0, (await me.CallAsync("send_message", """["d"]""")).Outcome.Code);
        Assert.Equal("d", Assert.Single(Assert.Single((await NextTransaction(me)).Tables).InsertedMessages).Text);
        await me.CloseAsync();
        await other.CloseAsync();
    }

    [Fact]
    public async Task Subscriptions_past_a_connections_limits_are_refused_while_the_ones_it_holds_keep_working()
    {
        var (db, owner) = await NewDatabase();
        using var me = await fixture.A.ConnectAsync(db);
        var all = await me.SubscribeAsync("SELECT * FROM Message");
        await me.ReadSnapshotAsync(all);
        for (var i = 1; i < 32; i++)
            await me.ReadSnapshotAsync(await me.SubscribeAsync($"SELECT * FROM Message WHERE text = 'never {i}'"));
        var refused = await me.SubscribeAsync("SELECT * FROM User");
        var error = (await me.NextUpdateAsync()).SubscriptionError;
        Assert.Equal(refused, error.RequestId);
        Assert.Contains("the most one connection may hold (32)", error.Error);

        await Send(db, owner, "still delivered");
        Assert.Equal("still delivered", Assert.Single(Assert.Single((await NextTransaction(me)).Tables).InsertedMessages).Text);
        await me.UnsubscribeAsync(all);
        Assert.Equal(all, (await me.NextUpdateAsync()).UnsubscribeApplied.RequestId);
        await me.ReadSnapshotAsync(await me.SubscribeAsync("SELECT * FROM User"));

        // Query text: two requests of ~41,000 characters each do not fit in 65,536.
        using var wordy = await fixture.A.ConnectAsync(db);
        var queries = Enumerable.Range(0, 10).Select(i => $"SELECT * FROM Message WHERE text = '{i}{new string('x', 4000)}'").ToArray();
        await wordy.ReadSnapshotAsync(await wordy.SubscribeAsync(queries));
        var tooMuch = await wordy.SubscribeAsync(queries);
        var textError = (await wordy.NextUpdateAsync()).SubscriptionError;
        Assert.Equal(tooMuch, textError.RequestId);
        Assert.Contains("at most 65536 characters of query text", textError.Error);
        Assert.Equal(0, (await wordy.CallAsync("send_message", """["short and sweet"]""")).Outcome.Code);
        await me.CloseAsync();
        await wordy.CloseAsync();
    }

    [Fact]
    public async Task Unsubscribe_stops_that_sets_updates_only()
    {
        var (db, owner) = await NewDatabase();
        using var me = await fixture.A.ConnectAsync(db);
        var messages = await me.SubscribeAsync("SELECT * FROM Message");
        await me.ReadSnapshotAsync(messages);
        var users = await me.SubscribeAsync("SELECT * FROM User WHERE identity = :sender");
        await me.ReadSnapshotAsync(users);

        await me.UnsubscribeAsync(messages);
        Assert.Equal(messages, (await me.NextUpdateAsync()).UnsubscribeApplied.RequestId);
        await Send(db, owner, "nobody listens");
        await me.CallAsync("set_name", """["Solo"]""");
        var next = await NextTransaction(me);
        Assert.Equal("User", Assert.Single(next.Tables).Table);
        await me.UnsubscribeAsync(999);
        Assert.Contains("No subscription with request id 999", (await me.NextUpdateAsync()).SubscriptionError.Error);
        await me.CloseAsync();
    }

    [Fact]
    public async Task A_slow_consumer_is_evicted_while_a_fast_one_keeps_receiving()
    {
        var (db, owner) = await NewDatabase();
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?> { ["Chat:Gateway:SendQueueCapacity"] = "16" });
        using var fast = await gateway.ConnectAsync(db);
        await fast.ReadSnapshotAsync(await fast.SubscribeAsync("SELECT * FROM Message"));

        // The slow client subscribes and then reads nothing: HTTP/2 flow control fills, then its queue.
        var headers = TestGateway.Bearer(owner);
        headers.Add("database", db);
        using var slowCall = gateway.Chat.Connect(headers);
        await slowCall.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = new V1.Subscribe { RequestId = 1, Queries = { "SELECT * FROM Message" } } });

        var text = new string('x', 4000);
        var received = 0;
        var readFast = Task.Run(async () =>
        {
            while (received < 600)
                received += (await NextTransaction(fast)).Tables.Sum(t => t.InsertedMessages.Count);
        });
        for (var i = 0; i < 600; i++) await Send(db, owner, text);
        await readFast.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(600, received);

        // When it finally reads, it gets what was already on its way, then the reason it was cut off.
        var status = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await slowCall.ResponseStream.MoveNext(CancellationToken.None)) { }
        });
        Assert.Equal(StatusCode.ResourceExhausted, status.StatusCode);
        Assert.Contains("could not keep up", status.Status.Detail);
        await fast.CloseAsync();
    }

    [Fact]
    public async Task Subscribes_succeed_and_go_live_while_another_connection_churns_on_the_same_database()
    {
        var (db, _) = await NewDatabase();
        // A gateway of its own: the replica of db here serves only these two connections, so it stops and starts all the time.
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client);
        using var subscriber = await gateway.ConnectAsync(db);
        using var stop = new CancellationTokenSource();
        var churns = 0;
        var churn = Task.Run(async () =>
        {
            // Connects and disconnects, every other time holding a subscription, so its drops empty the replica.
            for (; !stop.IsCancellationRequested; churns++)
            {
                using var other = await gateway.ConnectAsync(db);
                if (churns % 2 == 1) await Applied(other, await other.SubscribeAsync("SELECT * FROM User"));
                await other.CloseAsync();
                Assert.Null(other.EndedWith);
            }
        });

        for (var i = 1; i <= 150; i++)
        {
            var id = await subscriber.SubscribeAsync("SELECT * FROM Message");
            await Applied(subscriber, id);
            // Applied and live: what commits next reaches it.
            Assert.Equal(0, (await subscriber.CallAsync("send_message", $"[\"m{i}\"]")).Outcome.Code);
            var update = await Next(subscriber);
            Assert.Equal($"m{i}", Assert.Single(Assert.Single(update.TransactionUpdate.Tables).InsertedMessages).Text);
            await subscriber.UnsubscribeAsync(id);
            Assert.Equal(id, (await Next(subscriber)).UnsubscribeApplied?.RequestId);
            if (churn.IsCompleted) await churn; // the churner failed: say why
        }
        stop.Cancel();
        await churn;
        Assert.True(churns > 10, $"only {churns} connections churned");
        await subscriber.CloseAsync();
        Assert.Null(subscriber.EndedWith);
    }

    /// <summary>Reads the subscription's SubscribeApplied chunks up to the last; anything else (an error, the stream ending) fails.</summary>
    private static async Task Applied(LiveConnection connection, uint requestId)
    {
        V1.ServerMessage message;
        do
        {
            message = await Next(connection);
            Assert.True(message.SubscribeApplied?.RequestId == requestId, $"expected SubscribeApplied {requestId}, got {message}");
        }
        while (!message.SubscribeApplied.Last);
    }

    /// <summary>The next subscription message; if the stream ended instead, fails with its status.</summary>
    private static async Task<V1.ServerMessage> Next(LiveConnection connection)
    {
        try
        {
            return await connection.NextUpdateAsync();
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            await connection.Ended;
            Assert.Fail($"the stream ended: {connection.EndedWith?.Status.ToString() ?? "OK"}");
            throw;
        }
    }

    [Fact]
    public async Task An_evicted_client_is_freed_at_once_and_reads_resource_exhausted_without_draining_its_backlog()
    {
        var (db, owner) = await NewDatabase();
        // A long grace: however slowly this machine runs, the client below reads before its call could be aborted.
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Gateway:SendQueueCapacity"] = "16",
            ["Chat:Gateway:EvictionGrace"] = "00:10:00",
        });
        var (identity, token) = await gateway.CreateIdentityAsync();
        var headers = TestGateway.Bearer(token);
        headers.Add("database", db);
        using var slow = gateway.Chat.Connect(headers);
        await slow.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = new V1.Subscribe { RequestId = 1, Queries = { "SELECT * FROM Message" } } });
        Assert.True(await slow.ResponseStream.MoveNext(CancellationToken.None)); // the identity token
        Assert.True(await slow.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(slow.ResponseStream.Current.SubscribeApplied.Last);

        // It reads nothing more: HTTP/2 flow control fills, then its queue, and it is evicted.
        var text = new string('x', 4000);
        var sent = 0;
        while (gateway.Registry.LiveConnections > 0)
        {
            Assert.True(sent < 3000, $"the gateway still holds the client that stopped reading after {sent} messages");
            await Send(db, owner, text);
            sent++;
        }
        // The server let go of it without waiting for the client: the user is offline.
        await WaitUntil(async () => await Online(db, identity) == false, "the evicted user is offline");

        // When it reads again, it gets at most what was already in flight, then why it was cut off.
        var received = 0;
        var status = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await slow.ResponseStream.MoveNext(CancellationToken.None)) received++;
        });
        Assert.Equal(StatusCode.ResourceExhausted, status.StatusCode);
        Assert.Contains("could not keep up", status.Status.Detail);
        Assert.True(received < sent, $"it read {received} of {sent} messages before its status");
    }

    [Fact]
    public async Task A_client_that_never_reads_its_snapshot_is_evicted_instead_of_holding_every_update_meanwhile()
    {
        var (db, owner) = await NewDatabase();
        var history = new string('h', 4000);
        for (var i = 0; i < 600; i++) await Send(db, owner, history); // 2.4 MB: far more than HTTP/2 buffers for a client that does not read
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Gateway:SendQueueCapacity"] = "16",
            ["Chat:Gateway:SnapshotChunkRows"] = "1",
            ["Chat:Gateway:EvictionGrace"] = "00:10:00",
        });
        var (identity, token) = await gateway.CreateIdentityAsync();
        var headers = TestGateway.Bearer(token);
        headers.Add("database", db);
        using var stalled = gateway.Chat.Connect(headers);
        await stalled.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = new V1.Subscribe { RequestId = 1, Queries = { "SELECT * FROM Message" } } });
        Assert.True(await stalled.ResponseStream.MoveNext(CancellationToken.None)); // the identity token; then it reads nothing

        // Its snapshot cannot finish, so updates for it are held back meanwhile: past its queue's capacity, it is let go.
        var sent = 0;
        while (gateway.Registry.LiveConnections > 0)
        {
            Assert.True(sent < 500, $"the gateway still holds, after {sent} updates, a client that has not read its snapshot");
            await Send(db, owner, $"update {sent++}");
        }
        await WaitUntil(async () => await Online(db, identity) == false, "the stalled user is offline");
        var status = await Assert.ThrowsAsync<RpcException>(async () => { while (await stalled.ResponseStream.MoveNext(CancellationToken.None)) { } });
        Assert.Equal(StatusCode.ResourceExhausted, status.StatusCode);
        Assert.Contains("could not keep up", status.Status.Detail);
    }

    [Fact]
    public async Task Deleting_a_database_ends_its_subscribed_connections_with_NOT_FOUND()
    {
        var (db, owner) = await NewDatabase();
        using var client = await fixture.A.ConnectAsync(db, owner);
        var subscription = await client.SubscribeAsync("SELECT * FROM Message");
        await Applied(client, subscription);

        await fixture.A.Databases.DeleteAsync(new V1.DeleteRequest { Database = db }, TestGateway.Bearer(owner));

        // The deadline only bounds a hang: a stream left open after the delete never ends.
        await client.Ended.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(StatusCode.NotFound, client.EndedWith?.StatusCode);
        Assert.Contains($"Database '{db}' was deleted", client.EndedWith!.Status.Detail);
    }

    [Fact]
    public async Task A_database_republished_under_a_subscription_ends_it_with_an_error_and_a_new_one_starts_from_scratch()
    {
        var (db, owner) = await NewDatabase();
        using var client = await fixture.A.ConnectAsync(db, owner);
        var first = await client.SubscribeAsync("SELECT * FROM Message");
        await Applied(client, first);
        await Send(db, owner, "before delete");
        Assert.Equal("before delete", Assert.Single(Assert.Single((await Next(client)).TransactionUpdate.Tables).InsertedMessages).Text);

        await fixture.A.Databases.DeleteAsync(new V1.DeleteRequest { Database = db }, TestGateway.Bearer(owner));
        await fixture.A.Databases.PublishAsync(new V1.PublishRequest { Database = db }, TestGateway.Bearer(owner));
        await Send(db, owner, "after republish"); // offset 1 of the new database: the replica finds the database changed

        var error = await Next(client);
        Assert.Equal(first, error.SubscriptionError?.RequestId);
        Assert.Contains("deleted or published again", error.SubscriptionError!.Error);

        // The connection carries on; subscribing again starts from the new database, without the old messages.
        var second = await client.SubscribeAsync("SELECT * FROM Message");
        var (_, history) = await client.ReadSnapshotAsync(second);
        Assert.Equal([(1ul, "after republish")], history.Select(m => (m.Offset, m.Text)));
        await Send(db, owner, "later");
        Assert.Equal((2ul, "later"), Assert.Single(Assert.Single((await Next(client)).TransactionUpdate.Tables).InsertedMessages) is var m ? (m.Offset, m.Text) : default);
        await client.CloseAsync();
        Assert.Null(client.EndedWith);
    }

    [Fact]
    public async Task After_a_gateway_goes_away_clients_resubscribe_from_their_last_offset_and_miss_nothing()
    {
        var (db, owner) = await NewDatabase();
        var first = await TestGateway.StartAsync(fixture.Cluster.Client);
        var client = await first.ConnectAsync(db, owner);
        await client.ReadSnapshotAsync(await client.SubscribeAsync("SELECT * FROM Message"));
        for (var i = 1; i <= 3; i++) await Send(db, owner, $"before {i}");
        var seen = new List<ulong>();
        while (seen.Count < 3) seen.AddRange((await NextTransaction(client)).Tables.SelectMany(t => t.InsertedMessages).Select(m => m.Offset));
        await first.DisposeAsync(); // the gateway restarts: its streams end
        client.Dispose();

        for (var i = 1; i <= 5; i++) await Send(db, owner, $"while away {i}");
        using var again = await fixture.B.ConnectAsync(db, owner);
        var (_, missed) = await again.ReadSnapshotAsync(await again.SubscribeAsync($"SELECT * FROM Message WHERE offset > {seen.Max()}"));
        await Send(db, owner, "after");
        var live = Assert.Single(Assert.Single((await NextTransaction(again)).Tables).InsertedMessages);
        Assert.Equal(Enumerable.Range(1, 9).Select(i => (ulong)i), seen.Concat(missed.Select(m => m.Offset)).Append(live.Offset));
        await again.CloseAsync();
    }

    [Fact]
    public async Task Deliveries_lost_by_a_restarted_feed_are_repaired_from_PostgreSQL()
    {
        var (db, owner) = await NewDatabase();
        using var client = await fixture.A.ConnectAsync(db, owner);
        await client.ReadSnapshotAsync(await client.SubscribeAsync("SELECT * FROM Message"));
        await Send(db, owner, "one");
        Assert.Equal(1ul, Assert.Single(Assert.Single((await NextTransaction(client)).Tables).InsertedMessages).Offset);

        // The feed grain loses its subscribers (as when its silo dies); the next messages go nowhere at first.
        await fixture.Cluster.DeactivateAsync(fixture.Cluster.Client.GetChangeFeedGrain(db));
        for (var i = 2; i <= 4; i++) await Send(db, owner, $"message {i}");

        var offsets = new List<ulong>();
        while (offsets.Count < 3)
            offsets.AddRange((await NextTransaction(client)).Tables.SelectMany(t => t.InsertedMessages).Select(m => m.Offset));
        Assert.Equal([2ul, 3ul, 4ul], offsets);
        await client.CloseAsync();
    }
}
