using Chat.Development;

namespace Chat.Tests;

/// <summary>PostgreSQL goes away mid-run: calls fail clearly, nothing is half-written, and service resumes when it is back.</summary>
public class PostgresOutageTests : IAsyncLifetime
{
    private LocalPostgresCluster _server = null!;

    public async Task InitializeAsync() => _server = await TestPostgres.CreateServerAsync();
    public Task DisposeAsync() => _server.DestroyAsync();

    [Fact]
    public async Task Calls_fail_with_a_clear_error_during_an_outage_and_succeed_after_it()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync(_server);
        await using var cluster = await ChatCluster.StartAsync(connectionString, serviceId: "outage");
        var chat = new ChatDriver(cluster.Client, "outage");
        var (owner, alice, bob) = (Identity.Random(), Identity.Random(), Identity.Random());
        await chat.Publish(owner, settings: ModuleSettings.Default with { MessagesPerSecond = 0 });
        await chat.Connect(alice, ConnectionId.New());
        await chat.Connect(bob, ConnectionId.New());
        for (var i = 0; i < 5; i++)
            Assert.True((await chat.Send(alice, $"before {i}")).IsCommitted);

        // Writers are running when the server crashes.
        using var stopWriters = new CancellationTokenSource();
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<MessageRow>();
        // A commit sent just before the crash may have become durable without its answer: those calls are told so.
        var outcomeUnknown = new System.Collections.Concurrent.ConcurrentBag<string>();
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var n = 0; !stopWriters.IsCancellationRequested; n++)
            {
                var text = $"writer {w} message {n}";
                var result = await chat.Send(bob, text);
                if (result.IsCommitted) acknowledged.Add(result.Message!);
                else Assert.Equal(ReducerStatus.Unavailable, result.Status);
                if (result.Error?.StartsWith("Storage failed while committing: the message may or may not have been stored", StringComparison.Ordinal) == true)
                    outcomeUnknown.Add(text);
            }
        })).ToArray();
        await Task.Delay(300);
        await _server.StopAsync(immediate: true);

        var send = await chat.Send(alice, "during the outage");
        Assert.Equal(ReducerStatus.Unavailable, send.Status);
        Assert.StartsWith("Storage is unavailable, nothing was changed; try again shortly", send.Error);
        var rename = await chat.SetName(alice, "Alice");
        Assert.Equal(ReducerStatus.Unavailable, rename.Status);

        stopWriters.Cancel();
        await Task.WhenAll(writers);
        await _server.RestartAsync();

        // The pool notices dead connections on first use; give it a bounded number of tries.
        ReducerResult after = send;
        for (var attempt = 0; attempt < 50 && !after.IsCommitted; attempt++)
        {
            after = await chat.Send(alice, "after the outage");
            if (!after.IsCommitted) await Task.Delay(100);
        }
        Assert.True(after.IsCommitted, after.ToString());
        Assert.True((await chat.SetName(alice, "Alice")).IsCommitted);

        // Gap-free offsets, nothing half-written, every acknowledged message present exactly once.
        var rows = await TestPostgres.RowsAsync(connectionString, "SELECT \"offset\", text FROM chat.message ORDER BY \"offset\"");
        Assert.Equal(Enumerable.Range(1, rows.Count).Select(i => (long)i), rows.Select(r => (long)r[0]!));
        var stored = rows.ToDictionary(r => (long)r[0]!, r => (string)r[1]!);
        Assert.Equal(rows.Count, stored.Values.Distinct().Count()); // no message twice
        // Besides the acknowledged messages, only those whose callers were told the outcome is unknown may be stored.
        var unacknowledged = stored.Values.Except(acknowledged.Select(m => m.Text))
            .Except(Enumerable.Range(0, 5).Select(i => $"before {i}")).Except(["after the outage"]).ToList();
        Assert.All(unacknowledged, text => Assert.Contains(text, outcomeUnknown));
        Assert.Equal(5 + acknowledged.Count + 1 + unacknowledged.Count, rows.Count);
        Assert.All(acknowledged, m => Assert.Equal(m.Text, stored[m.Offset]));
        Assert.Equal("after the outage", stored[after.Message!.Offset]);
        Assert.DoesNotContain("during the outage", stored.Values);
        Assert.Equal("Alice", (await chat.User(alice))!.Name);
    }

    [Fact]
    public async Task Sends_retried_with_their_keys_across_a_crash_are_stored_exactly_once_even_when_the_outcome_was_unknown()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync(_server);
        await using var cluster = await ChatCluster.StartAsync(connectionString, serviceId: "outage-keys");
        var chat = new ChatDriver(cluster.Client, "outage-keys");
        var bob = Identity.Random();
        await chat.Publish(Identity.Random(), settings: ModuleSettings.Default with { MessagesPerSecond = 0 });

        // Each writer sends its next message only once the one before is acknowledged, retrying with the same key.
        using var stopWriters = new CancellationTokenSource();
        var issued = new System.Collections.Concurrent.ConcurrentDictionary<string, string>(); // key -> text
        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        var unknownOutcomes = 0;
        async Task<bool> SendUntilAcknowledged(string key, CancellationToken stop)
        {
            while (true)
            {
                var result = await chat.Send(bob, issued[key], key);
                if (result.IsCommitted)
                {
                    Assert.True(acknowledged.TryAdd(key, result.Message!.Offset) || acknowledged[key] == result.Message!.Offset);
                    return true;
                }
                Assert.Equal(ReducerStatus.Unavailable, result.Status);
                if (result.Error!.StartsWith("Storage failed while committing", StringComparison.Ordinal)) Interlocked.Increment(ref unknownOutcomes);
                if (stop.IsCancellationRequested) return false;
                // Only paces the retries; stop is checked above, where returning false is the answer it wants (not an exception).
                await Task.Delay(20, CancellationToken.None);
            }
        }
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var n = 0; !stopWriters.IsCancellationRequested; n++)
            {
                var key = $"{w}-{n}";
                issued[key] = $"writer {w} message {n}";
                if (!await SendUntilAcknowledged(key, stopWriters.Token)) return;
            }
        })).ToArray();
        await Task.Delay(300);
        await _server.StopAsync(immediate: true);
        await Task.Delay(300);
        stopWriters.Cancel();
        await Task.WhenAll(writers);
        await _server.RestartAsync();

        // What a client does after an outage: retry every call it has no answer for, with its key.
        using var bounded = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        foreach (var key in issued.Keys.Except(acknowledged.Keys).ToList())
            Assert.True(await SendUntilAcknowledged(key, CancellationToken.None).WaitAsync(bounded.Token));

        var rows = await TestPostgres.RowsAsync(connectionString, "SELECT \"offset\", text FROM chat.message ORDER BY \"offset\"");
        Assert.Equal(Enumerable.Range(1, rows.Count).Select(i => (long)i), rows.Select(r => (long)r[0]!));
        var stored = rows.ToDictionary(r => (string)r[1]!, r => (long)r[0]!); // throws on a message stored twice
        Assert.Equal(issued.Count, stored.Count);
        Assert.All(acknowledged, a => Assert.Equal(stored[issued[a.Key]], a.Value));
        Assert.Equal(issued.Count, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.reducer_call"));
    }
}
