using Microsoft.Extensions.DependencyInjection;
using Chat.Grains;
using Chat.Storage;
using Grpc.Core;
using Npgsql;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>
/// Idempotency keys through the gateway: a call repeated with its key, on either gateway, unary or on a stream, is
/// answered with the first call's result and stored once.
/// </summary>
public class IdempotencyTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static readonly V1.DatabaseSettings NoRateLimit = new() { MessagesPerSecond = 0 };

    private Task<List<object?[]>> Messages(string database) => TestPostgres.RowsAsync(fixture.ConnectionString,
        """SELECT "offset", text FROM chat.messages WHERE database = @db ORDER BY "offset" """, ("db", database));

    private Task<long> RecordedKeys(string database) => TestPostgres.ScalarAsync<long>(fixture.ConnectionString,
        "SELECT count(*) FROM chat.reducer_call r JOIN chat.database d ON d.id = r.database_id WHERE d.name = @db", ("db", database));

    [Fact]
    public async Task A_send_retried_with_its_key_on_the_other_gateway_returns_the_first_offset_and_stores_once()
    {
        var (db, token, _) = await fixture.NewDatabaseAsync("retry", NoRateLimit);
        var first = await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "once", IdempotencyKey = "k-1" }, TestGateway.Bearer(token));
        Assert.False(first.Replayed);
        var other = await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "other" }, TestGateway.Bearer(token));

        var retry = await fixture.B.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "once", IdempotencyKey = "k-1" }, TestGateway.Bearer(token));
        Assert.True(retry.Replayed);
        Assert.Equal(first.MessageOffset, retry.MessageOffset);
        Assert.Equal(first.Timestamp, retry.Timestamp);
        var generic = await fixture.B.Chat.CallReducerAsync(new V1.CallReducerRequest { Database = db, Reducer = "send_message", ArgsJson = """["once"]""", IdempotencyKey = "k-1" }, TestGateway.Bearer(token));
        Assert.True(generic.Replayed);
        Assert.Equal(first.MessageOffset, generic.MessageOffset);

        Assert.Equal([[1L, "once"], [2L, "other"]], (await Messages(db)).Select(r => r.ToArray()));
        Assert.Equal(2UL, other.MessageOffset);
        Assert.Equal(1, await RecordedKeys(db));
    }

    [Fact]
    public async Task A_key_belongs_to_its_identity_and_database()
    {
        var (db, alice, _) = await fixture.NewDatabaseAsync("scoped", NoRateLimit);
        var (_, bob) = await fixture.A.CreateIdentityAsync();
        var a = await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "same", IdempotencyKey = "shared" }, TestGateway.Bearer(alice));
        var b = await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "same", IdempotencyKey = "shared" }, TestGateway.Bearer(bob));
        Assert.False(b.Replayed);
        Assert.NotEqual(a.MessageOffset, b.MessageOffset);
        Assert.Equal(2, (await Messages(db)).Count);
    }

    [Fact]
    public async Task Calls_on_a_stream_replay_too_and_their_retries_change_nothing_subscribers_see()
    {
        var (db, token, _) = await fixture.NewDatabaseAsync("stream", NoRateLimit);
        using var watcher = await fixture.B.ConnectAsync(db);
        var subscription = await watcher.SubscribeAsync("SELECT * FROM Message");
        await watcher.ReadSnapshotAsync(subscription);

        using var sender = await fixture.A.ConnectAsync(db, token);
        var first = await sender.CallAsync("send_message", """["on the stream"]""", "s-1");
        var again = await sender.CallAsync("send_message", """["on the stream"]""", "s-1");
        Assert.Equal(0, again.Outcome.Code);
        Assert.False(first.Outcome.Replayed);
        Assert.True(again.Outcome.Replayed);
        Assert.Equal(first.Outcome.MessageOffset, again.Outcome.MessageOffset);
        var unary = await fixture.B.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "on the stream", IdempotencyKey = "s-1" }, TestGateway.Bearer(token));
        Assert.Equal(first.Outcome.MessageOffset, unary.MessageOffset);
        var marker = await sender.CallAsync("send_message", """["marker"]""");

        // The subscriber sees the message once, then the marker: the retries added nothing.
        var seen = new List<ulong>();
        while (!seen.Contains(marker.Outcome.MessageOffset))
        {
            var update = await watcher.NextUpdateAsync();
            if (update.TransactionUpdate is { } tx)
                seen.AddRange(tx.Tables.SelectMany(t => t.InsertedMessages).Select(m => m.Offset));
        }
        Assert.Equal([first.Outcome.MessageOffset, marker.Outcome.MessageOffset], seen);
        await sender.CloseAsync();
        await watcher.CloseAsync();
    }

    [Fact]
    public async Task Concurrent_retries_of_one_call_on_both_gateways_store_it_once()
    {
        var (db, token, _) = await fixture.NewDatabaseAsync("burst", NoRateLimit);
        var calls = Enumerable.Range(0, 24).Select(i => (i % 2 == 0 ? fixture.A : fixture.B).Chat
            .SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "storm", IdempotencyKey = "one-call" }, TestGateway.Bearer(token)).ResponseAsync);
        var answers = await Task.WhenAll(calls);
        Assert.Single(answers.Select(a => a.MessageOffset).Distinct());
        Assert.Single(answers, a => !a.Replayed);
        Assert.Equal([[1L, "storm"]], (await Messages(db)).Select(r => r.ToArray()));
    }

    [Fact]
    public async Task Set_name_retried_with_its_key_is_not_run_again()
    {
        var (db, token, identity) = await fixture.NewDatabaseAsync("rename");
        using var connection = await fixture.A.ConnectAsync(db, token);
        var first = await fixture.A.Chat.SetNameAsync(new V1.SetNameRequest { Database = db, Name = "Alice", IdempotencyKey = "name-1" }, TestGateway.Bearer(token));
        await fixture.A.Chat.SetNameAsync(new V1.SetNameRequest { Database = db, Name = "Alicia" }, TestGateway.Bearer(token));

        // A late retry of the first rename must not undo the second.
        var retry = await fixture.B.Chat.SetNameAsync(new V1.SetNameRequest { Database = db, Name = "Alice", IdempotencyKey = "name-1" }, TestGateway.Bearer(token));
        Assert.True(retry.Replayed);
        Assert.Equal(first.Timestamp, retry.Timestamp);
        var stream = await connection.CallAsync("set_name", """["Alice"]""", "name-1");
        Assert.True(stream.Outcome.Replayed);
        var name = await TestPostgres.ScalarAsync<string>(fixture.ConnectionString,
            "SELECT name FROM chat.users WHERE database = @db AND identity = @identity", ("db", db), ("identity", "0x" + identity));
        Assert.Equal("Alicia", name);
        await connection.CloseAsync();
    }

    [Fact]
    public async Task A_key_reused_for_a_different_call_is_refused_and_changes_nothing()
    {
        var (db, token, _) = await fixture.NewDatabaseAsync("mismatch", NoRateLimit);
        using var connection = await fixture.A.ConnectAsync(db, token);
        await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "first", IdempotencyKey = "k" }, TestGateway.Bearer(token));

        var otherText = await Assert.ThrowsAsync<RpcException>(() => fixture.A.Chat.SendMessageAsync(
            new V1.SendMessageRequest { Database = db, Text = "second", IdempotencyKey = "k" }, TestGateway.Bearer(token)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, otherText.StatusCode);
        Assert.Equal("The idempotency key 'k' was already used for a different send_message call; a key may only be reused to retry " +
                     "the very same call (same reducer, same arguments). Use a new key for a new call.", otherText.Status.Detail);
        var otherReducer = await Assert.ThrowsAsync<RpcException>(() => fixture.B.Chat.SetNameAsync(
            new V1.SetNameRequest { Database = db, Name = "Mallory", IdempotencyKey = "k" }, TestGateway.Bearer(token)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, otherReducer.StatusCode);
        Assert.Contains("already used for a different send_message call", otherReducer.Status.Detail);

        Assert.Equal([[1L, "first"]], (await Messages(db)).Select(r => r.ToArray()));
        Assert.Null(await TestPostgres.ScalarAsync<string?>(fixture.ConnectionString, "SELECT name FROM chat.users WHERE database = @db AND name IS NOT NULL", ("db", db)));
        await connection.CloseAsync();
    }

    [Theory]
    [InlineData("has space", "visible ASCII")]
    [InlineData("tab\there", "visible ASCII")]
    [InlineData("clé", "visible ASCII")]
    [InlineData(null, "at most 128")]
    public async Task A_malformed_key_is_refused_before_anything_runs(string? key, string problem)
    {
        key ??= new string('k', 129);
        var (db, token, _) = await fixture.NewDatabaseAsync("badkey", NoRateLimit);
        var unary = await Assert.ThrowsAsync<RpcException>(() => fixture.A.Chat.SendMessageAsync(
            new V1.SendMessageRequest { Database = db, Text = "x", IdempotencyKey = key }, TestGateway.Bearer(token)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, unary.StatusCode);
        Assert.Contains(problem, unary.Status.Detail);

        using var connection = await fixture.A.ConnectAsync(db, token);
        var onStream = await connection.CallAsync("send_message", """["x"]""", key);
        Assert.Equal((int)StatusCode.InvalidArgument, onStream.Outcome.Code);
        Assert.Contains(problem, onStream.Outcome.Error);
        Assert.Empty(await Messages(db));
        await connection.CloseAsync();
    }

    [Fact]
    public async Task Deleting_a_database_forgets_its_keys()
    {
        var (db, token, _) = await fixture.NewDatabaseAsync("forget", NoRateLimit);
        await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "x", IdempotencyKey = "gone" }, TestGateway.Bearer(token));
        Assert.Equal(1, await RecordedKeys(db));
        var id = await TestPostgres.ScalarAsync<long>(fixture.ConnectionString, "SELECT id FROM chat.database WHERE name = @db", ("db", db));
        await fixture.A.Databases.DeleteAsync(new V1.DeleteRequest { Database = db }, TestGateway.Bearer(token));
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(fixture.ConnectionString, "SELECT count(*) FROM chat.reducer_call WHERE database_id = @id", ("id", id)));

        // Published again, the database starts over: the old key is free.
        await fixture.A.Databases.PublishAsync(new V1.PublishRequest { Database = db, Settings = NoRateLimit }, TestGateway.Bearer(token));
        var again = await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "x", IdempotencyKey = "gone" }, TestGateway.Bearer(token));
        Assert.False(again.Replayed);
        Assert.Equal(1UL, again.MessageOffset);
    }
}

/// <summary>Keys outlive the grains that recorded them, and expire after the retention window.</summary>
public class IdempotencyDurabilityTests
{
    [Fact]
    public async Task A_retry_after_the_whole_cluster_restarted_returns_the_recorded_result()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        var (owner, alice) = (Identity.Random(), Identity.Random());
        ReducerResult sent, named;
        await using (var cluster = await ChatCluster.StartAsync(connectionString, serviceId: "keys-restart"))
        {
            var chat = new ChatDriver(cluster.Client, "durable");
            await chat.Publish(owner);
            await chat.Connect(alice, ConnectionId.New());
            sent = await chat.Send(alice, "kept", "send-1");
            named = await chat.SetName(alice, "Alice", "name-1");
            Assert.True(sent.IsCommitted, sent.ToString());
            Assert.True(named.IsCommitted, named.ToString());
        }

        await using var restarted = await ChatCluster.StartAsync(connectionString, serviceId: "keys-restart");
        var again = new ChatDriver(restarted.Client, "durable");
        var resent = await again.Send(alice, "kept", "send-1");
        Assert.True(resent.Replayed, resent.ToString());
        Assert.Equal(sent.Message, resent.Message);
        Assert.Equal(sent.Timestamp, resent.Timestamp);
        var renamed = await again.SetName(alice, "Alice", "name-1");
        Assert.True(renamed.Replayed);
        Assert.Equal(named.Timestamp, renamed.Timestamp);
        Assert.Equal(1, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.message"));
    }

    [Fact]
    public async Task Keys_past_the_retention_window_are_forgotten_and_a_late_retry_runs_again()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        await using var cluster = await ChatCluster.StartAsync(connectionString, serviceId: "keys-expire", configure: silo =>
            silo.Services.Configure<IdempotencyOptions>(o => (o.Retention, o.PruneInterval) = (TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(200))));
        var chat = new ChatDriver(cluster.Client, "expiring");
        var alice = Identity.Random();
        await chat.Publish(Identity.Random());
        await chat.Connect(alice, ConnectionId.New());
        Assert.True((await chat.SetName(alice, "Alice", "late")).IsCommitted);
        Assert.True((await chat.SetName(alice, "Alice", "late")).Replayed);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.reducer_call") > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the expired key was never pruned");
            await Task.Delay(100);
        }
        var late = await chat.SetName(alice, "Alice", "late");
        Assert.True(late.IsCommitted);
        Assert.False(late.Replayed);
    }

    [Fact]
    public async Task The_store_refuses_a_key_recorded_twice_and_writes_nothing()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        await ChatSchema.MigrateAsync(connectionString);
        await using var source = NpgsqlDataSource.Create(connectionString);
        var store = new MessageStore(source);
        var (id, _, _) = await new DatabaseCatalogStore(source).CreateDatabaseAsync("raced", Identity.Random(), DateTime.UtcNow);
        var sender = Identity.Random();
        var key = new KeyedCall("same", IdempotencyKey.Fingerprint("send_message", "a"), default);
        await using (var first = await store.PrepareMessagesAsync(id, [new MessageRow(1, sender, DateTime.UtcNow, "a")], false, [key]))
            await first.CommitAsync();

        // As a second activation of the message log during a failover would: the same key under the next offset.
        await Assert.ThrowsAsync<IdempotencyKeyTakenException>(() => store.PrepareMessagesAsync(id, [new MessageRow(2, sender, DateTime.UtcNow, "a")], false, [key]));
        Assert.Equal(1, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.message"));
        Assert.Single(await new ReducerCallStore(source).FindCallsAsync(id, [(sender, "same")]));
    }
}
