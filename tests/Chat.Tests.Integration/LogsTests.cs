using System.Globalization;
using Grpc.Core;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>`spacetime logs`: each database's module log, durable in PostgreSQL, read and followed through the gateway.</summary>
public class LogsTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private TestGateway Gateway => fixture.A;
    private async Task<(string Database, string OwnerToken)> NewDatabase(V1.DatabaseSettings? settings = null)
    {
        var (name, token, _) = await fixture.NewDatabaseAsync("logs", settings);
        return (name, token);
    }

    private async Task<List<V1.LogRecord>> ReadLogs(string database, string token, uint lines = 0, V1.LogLevel min = V1.LogLevel.Unspecified)
    {
        using var call = Gateway.Chat.Logs(new V1.LogsRequest { Database = database, NumLines = lines, MinLevel = min }, TestGateway.Bearer(token));
        var records = new List<V1.LogRecord>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) records.Add(call.ResponseStream.Current);
        return records;
    }

    private Task<V1.ReducerResponse> Send(string database, string token, string text) =>
        Gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = database, Text = text }, TestGateway.Bearer(token)).ResponseAsync;

    [Fact]
    public async Task The_seeds_hello_world_appears_at_info_level()
    {
        var (db, owner) = await NewDatabase();
        await Gateway.Chat.CallReducerAsync(new V1.CallReducerRequest { Database = db, Reducer = "send_message", ArgsJson = """["Hello, World!"]""" }, TestGateway.Bearer(owner));
        var records = await ReadLogs(db, owner);
        var hello = Assert.Single(records, r => r.Message == "Hello, World!");
        Assert.Equal(V1.LogLevel.Info, hello.Level);
        Assert.Equal("send_message", hello.Reducer);
        Assert.Contains(records, r => r.Message.StartsWith($"Database {db} published by", StringComparison.Ordinal));
        Assert.True(records.Zip(records.Skip(1)).All(p => p.First.Id < p.Second.Id));
    }

    [Fact]
    public async Task Failed_calls_and_unknown_disconnects_leave_error_and_warning_lines()
    {
        var (db, owner) = await NewDatabase();
        var connection = await Gateway.ConnectAsync(db, owner);
        await connection.CallAsync("set_name", """[""]""");
        await connection.CallAsync("send_message", """[1, 2]""");
        await connection.CloseAsync();
        var ghost = Identity.Random();
        await fixture.Cluster.Client.GetUserGrain(db, ghost).IdentityDisconnected(new ReducerCaller(ghost, ConnectionId.New()));

        var records = await ReadLogs(db, owner, min: V1.LogLevel.Warn);
        Assert.Contains(records, r => r is { Level: V1.LogLevel.Error, Reducer: "set_name", Message: "Names must not be empty" });
        Assert.Contains(records, r => r.Level == V1.LogLevel.Error && r.Reducer == "send_message" && r.Message.StartsWith("send_message takes 1 argument", StringComparison.Ordinal));
        Assert.Contains(records, r => r.Level == V1.LogLevel.Warn && r.Message == $"Disconnect event for unknown user with identity {ghost}");
        Assert.DoesNotContain(records, r => r.Level < V1.LogLevel.Warn);
    }

    [Fact]
    public async Task Num_lines_gives_the_most_recent_records_oldest_first()
    {
        var (db, owner) = await NewDatabase();
        for (var i = 1; i <= 10; i++) await Send(db, owner, $"line {i}");
        var last3 = await ReadLogs(db, owner, lines: 3);
        Assert.Equal(["line 8", "line 9", "line 10"], last3.Select(r => r.Message));
    }

    [Fact]
    public async Task Only_the_owner_reads_the_logs()
    {
        var (db, _) = await NewDatabase();
        var (_, stranger) = await Gateway.CreateIdentityAsync();
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadLogs(db, stranger));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Equal($"Only the owner of database '{db}' can read its logs.", refused.Status.Detail);
        var missing = await Assert.ThrowsAsync<RpcException>(() => ReadLogs("no-such-logs", stranger));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Follow_streams_every_new_record_once_while_writers_run()
    {
        var (db, owner) = await NewDatabase(new V1.DatabaseSettings { MessagesPerSecond = 0 });
        await Send(db, owner, "before following");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var follow = Gateway.Chat.Logs(new V1.LogsRequest { Database = db, NumLines = 1, Follow = true }, TestGateway.Bearer(owner), cancellationToken: stop.Token);
        Assert.True(await follow.ResponseStream.MoveNext(stop.Token));
        Assert.Equal("before following", follow.ResponseStream.Current.Message);

        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++) await Send(db, owner, $"writer {w} #{i}");
        })).ToArray();

        // A writer that fails ends the wait at once, with its own error rather than a follower left waiting for its records.
        var writing = Task.WhenAll(writers);
        _ = writing.ContinueWith(_ => stop.Cancel(), TaskContinuationOptions.OnlyOnFaulted);
        var seen = new List<V1.LogRecord>();
        try
        {
            while (seen.Count < 200 && await follow.ResponseStream.MoveNext(stop.Token))
                seen.Add(follow.ResponseStream.Current);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
            await writing; // throws what failed a writer, if one did
            var stored = await ReadLogs(db, owner);
            Assert.Fail($"The follower saw {seen.Count} of 200 records in 60 s (writers finished: {writing.IsCompleted}); the log holds " +
                        $"{stored.Count(r => r.Message.StartsWith("writer ", StringComparison.Ordinal))}; last seen id {seen.LastOrDefault()?.Id}, ids stored after it: " +
                        string.Join(",", stored.Where(r => r.Id > (seen.LastOrDefault()?.Id ?? 0)).Select(r => r.Id).Take(20)));
        }
        await writing;
        stop.Cancel();

        Assert.Equal(200, seen.Select(r => r.Message).Distinct().Count());
        Assert.True(seen.Zip(seen.Skip(1)).All(p => p.First.Id < p.Second.Id), "records arrive in log order, none twice");
        for (var w = 0; w < 4; w++)
        {
            var mine = seen.Where(r => r.Message.StartsWith($"writer {w} #", StringComparison.Ordinal)).Select(r => int.Parse(r.Message.Split('#')[1], CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(0, 50), mine);
        }
    }

    [Fact]
    public async Task Followers_share_one_reader_per_database_and_past_the_gateways_limit_are_refused()
    {
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?> { ["Chat:Gateway:MaxLogFollowers"] = "3" });
        var (db, owner) = await NewDatabase(new V1.DatabaseSettings { MessagesPerSecond = 0 });
        var (other, otherOwner) = await NewDatabase(new V1.DatabaseSettings { MessagesPerSecond = 0 });
        await Send(db, owner, "before");
        await Send(other, otherOwner, "before");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        AsyncServerStreamingCall<V1.LogRecord> Follow(string database, string token) =>
            gateway.Chat.Logs(new V1.LogsRequest { Database = database, NumLines = 1, Follow = true }, TestGateway.Bearer(token), cancellationToken: stop.Token);
        async Task<string> Next(AsyncServerStreamingCall<V1.LogRecord> call)
        {
            Assert.True(await call.ResponseStream.MoveNext(stop.Token), "the follow stream ended");
            return call.ResponseStream.Current.Message;
        }

        using var first = Follow(db, owner);
        using var second = Follow(db, owner);
        using var elsewhere = Follow(other, otherOwner);
        foreach (var call in new[] { first, second, elsewhere }) Assert.Equal("before", await Next(call));

        using var refused = Follow(db, owner);
        Assert.Equal("before", await Next(refused)); // what is there is read before following starts
        var error = await Assert.ThrowsAsync<RpcException>(() => refused.ResponseStream.MoveNext(stop.Token));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("its limit", error.Status.Detail);

        // Each follower of a database gets each new record once, and followers of another database get only theirs.
        await Send(db, owner, "one");
        await Send(other, otherOwner, "two");
        await Send(db, owner, "three");
        Assert.Equal(["one", "three"], new[] { await Next(first), await Next(first) });
        Assert.Equal(["one", "three"], new[] { await Next(second), await Next(second) });
        Assert.Equal("two", await Next(elsewhere));

        // A follower that leaves gives its place back (its call ends asynchronously to the client's dispose).
        second.Dispose();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (gateway.LogFollowing.Followers > 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "the gateway never noticed the follower leave");
            await Task.Delay(20);
        }
        using var again = Follow(db, owner);
        Assert.Equal("three", await Next(again));
        await Send(db, owner, "after");
        Assert.Equal("after", await Next(again));
        Assert.Equal("after", await Next(first));
    }

    [Fact]
    public async Task Retention_prunes_the_oldest_records()
    {
        var (db, owner) = await NewDatabase(new V1.DatabaseSettings { MessagesPerSecond = 0 });
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++) await Send(db, owner, $"bulk {w}/{i}");
        })));
        var deadline = DateTime.UtcNow.AddSeconds(15);
        long count;
        while ((count = await TestPostgres.ScalarAsync<long>(fixture.ConnectionString, "SELECT count(*) FROM chat.logs WHERE database = @db", ("db", db))) > 1100
               && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.True(count <= 1100, $"{count} records kept; the retention is 1,000 (pruned every 100)");
        // Every message is still there: pruning touches the log only.
        Assert.Equal(1600, await TestPostgres.ScalarAsync<long>(fixture.ConnectionString, "SELECT count(*) FROM chat.messages WHERE database = @db", ("db", db)));
        var newest = await ReadLogs(db, owner, lines: 1);
        Assert.StartsWith("bulk", Assert.Single(newest).Message);
    }
}
