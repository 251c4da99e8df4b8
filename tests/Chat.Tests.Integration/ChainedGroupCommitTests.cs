using Chat.Storage;
using Npgsql;

namespace Chat.Tests;

/// <summary>
/// Chained group commits (migration 0010) on a real PostgreSQL: a group's COMMIT may be sent before the group before it
/// has committed, yet it takes effect only after that one, and only if that one committed, so offsets stay gap-free.
/// </summary>
public class ChainedGroupCommitTests
{
    private static async Task<(string ConnectionString, NpgsqlDataSource Source, MessageStore Store, long Database)> NewDatabaseAsync()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        await ChatSchema.MigrateAsync(connectionString);
        var source = NpgsqlDataSource.Create(connectionString);
        var (id, _, _) = await new DatabaseCatalogStore(source).CreateDatabaseAsync("chained", Identity.Random(), DateTime.UtcNow);
        return (connectionString, source, new MessageStore(source), id);
    }

    private static MessageRow[] Rows(long first, int count, Identity sender) =>
        Enumerable.Range(0, count).Select(i => new MessageRow(first + i, sender, DateTime.UtcNow.AddTicks(first + i), $"m{first + i}")).ToArray();

    private static Task<List<long>> OffsetsAsync(string connectionString) =>
        TestPostgres.RowsAsync(connectionString, "SELECT \"offset\" FROM chat.message ORDER BY \"offset\"")
            .ContinueWith(rows => rows.Result.Select(r => (long)r[0]!).ToList());

    [Fact]
    public async Task A_commit_sent_early_waits_for_the_group_before_and_then_takes_effect()
    {
        var (connectionString, source, store, id) = await NewDatabaseAsync();
        await using var _ = source;
        var sender = Identity.Random();
        await using var first = await store.PrepareMessagesAsync(id, Rows(1, 2, sender), logMessages: true);
        await using var second = await store.PrepareMessagesAsync(id, Rows(3, 2, sender), logMessages: true);

        var secondCommit = second.CommitAsync(previousOffset: 2);
        // It cannot finish while the group before is open: it waits on that group's lock inside PostgreSQL. Shown by
        // PostgreSQL itself: a backend waiting on an advisory lock, and none of its rows visible.
        await WaitForAsync(async () => await TestPostgres.ScalarAsync<long>(connectionString,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'") == 1);
        Assert.False(secondCommit.IsCompleted);
        Assert.Empty(await OffsetsAsync(connectionString));

        await first.CommitAsync();
        await secondCommit;
        Assert.Equal([1L, 2, 3, 4], await OffsetsAsync(connectionString));
        Assert.Equal(4, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.log WHERE reducer = 'send_message'"));
    }

    [Fact]
    public async Task A_group_behind_one_that_rolled_back_stores_nothing()
    {
        var (connectionString, source, store, id) = await NewDatabaseAsync();
        await using var _ = source;
        var sender = Identity.Random();
        var first = await store.PrepareMessagesAsync(id, Rows(1, 1, sender), logMessages: true);
        await using var second = await store.PrepareMessagesAsync(id, Rows(2, 3, sender), logMessages: true);
        await using var third = await store.PrepareMessagesAsync(id, Rows(5, 1, sender), logMessages: true);
        var secondCommit = second.CommitAsync(previousOffset: 1);
        var thirdCommit = third.CommitAsync(previousOffset: 4);

        await first.DisposeAsync(); // rolled back, as when its storage call fails
        await Assert.ThrowsAsync<PreviousGroupNotCommittedException>(() => secondCommit);
        await Assert.ThrowsAsync<PreviousGroupNotCommittedException>(() => thirdCommit);
        Assert.Empty(await OffsetsAsync(connectionString));
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.log"));

        // The log starts again after the tail, as a message log grain does after a failed group.
        await store.AppendMessagesAsync(id, Rows(1, 2, sender), logMessages: false);
        Assert.Equal([1L, 2], await OffsetsAsync(connectionString));
    }

    [Fact]
    public async Task A_group_alone_is_one_statement_and_a_gone_database_stores_nothing()
    {
        var (connectionString, source, store, id) = await NewDatabaseAsync();
        await using var _ = source;
        var sender = Identity.Random();
        await store.AppendMessagesAsync(id, Rows(1, 3, sender), logMessages: true);
        Assert.Equal([1L, 2, 3], await OffsetsAsync(connectionString));

        await new DatabaseCatalogStore(source).DeleteDatabaseAsync(id);
        await Assert.ThrowsAsync<DatabaseGoneException>(() => store.AppendMessagesAsync(id, Rows(4, 1, sender), logMessages: true));
        await Assert.ThrowsAsync<DatabaseGoneException>(() => store.PrepareMessagesAsync(id, Rows(4, 1, sender), logMessages: true));
        Assert.Empty(await OffsetsAsync(connectionString));
        // Nothing was left open: every pooled connection is idle, none idle in a transaction.
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(connectionString,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"));
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        // Bounds a hang only; the condition is what the test waits for.
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached within a minute");
            await Task.Delay(20);
        }
    }
}
