using Chat.Grains;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;

namespace Chat.Tests;

/// <summary>What must survive the cluster: restarts, more than one silo, membership in PostgreSQL.</summary>
public class ClusterLifecycleTests
{
    [Fact]
    public async Task Everything_acknowledged_survives_a_full_cluster_restart()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        var (owner, alice) = (Identity.Random(), Identity.Random());
        var connection = ConnectionId.New();

        await using (var first = await ChatCluster.StartAsync(connectionString, serviceId: "restart"))
        {
            var chat = new ChatDriver(first.Client, "quickstart");
            Assert.True((await chat.Publish(owner, settings: ModuleSettings.Default with { MaxNameLength = 10, MessagesPerSecond = 0, LogMessages = false })).Result.IsCommitted);
            await chat.Connect(alice, connection);
            await chat.SetName(alice, "Alice");
            for (var i = 1; i <= 10; i++)
                Assert.Equal(i, (await chat.Send(alice, $"before restart {i}")).Message!.Offset);
            await first.StopAllSilosAsync();
        }

        await using var second = await ChatCluster.StartAsync(connectionString, serviceId: "restart");
        var again = new ChatDriver(second.Client, "quickstart");
        var database = await second.Client.GetDatabaseGrain("quickstart").Describe();
        Assert.NotNull(database);
        Assert.Equal(owner, database.Owner);
        Assert.Equal(ModuleSettings.Default with { MaxNameLength = 10, MessagesPerSecond = 0, LogMessages = false }, database.Settings);
        Assert.Equal(new UserRow(alice, "Alice", true), await again.User(alice));

        var next = await again.Send(alice, "after restart");
        Assert.Equal(11, next.Message!.Offset);
        var reader = second.Client.GetGrain<ITableReaderGrain>(0);
        var history = await reader.ReadMessages((await reader.LoadSnapshot("quickstart"))!.DatabaseId, "SELECT * FROM Message", alice, 0, long.MaxValue, 100);
        Assert.Equal(Enumerable.Range(1, 11).Select(i => (long)i), history.Select(m => m.Offset));
        Assert.True(history[^1].Sent > history[^2].Sent);
        Assert.Equal("Names must be at most 10 characters long (this one has 11)", (await again.SetName(alice, "Alexandrina")).Error);
    }

    [Fact]
    public async Task Two_silos_share_one_database_through_PostgreSQL_membership()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        // Orleans' default placement prefers the least loaded silo, which on a busy machine can be the same one for all 40
        // users; random placement makes "spread over both silos" a certainty (the odds of one silo are 2^-39).
        await using var cluster = await ChatCluster.StartAsync(connectionString, silos: 2, serviceId: "two-silos",
            configure: silo => silo.Services.AddSingleton<Orleans.Runtime.PlacementStrategy, Orleans.Runtime.RandomPlacement>());
        Assert.Equal(2, cluster.GetActiveSilos().Count());
        var active = await TestPostgres.ScalarAsync<long>(connectionString,
            "SELECT count(*) FROM OrleansMembershipTable WHERE Status = 3");
        Assert.Equal(2, active);

        await EverySiloCanPlaceOnAll(cluster, 2);

        var owner = Identity.Random();
        var chat = new ChatDriver(cluster.Client, "shared");
        await chat.Publish(owner, settings: ModuleSettings.Default with { MessagesPerSecond = 0 });
        // A subscriber sees every change, whichever silo's grains made it.
        await using var gateway = await TestGateway.StartAsync(cluster.Client);
        using var watcher = await gateway.ConnectAsync("shared");
        await watcher.ReadSnapshotAsync(await watcher.SubscribeAsync("SELECT * FROM Message"));
        var users = Enumerable.Range(0, 40).Select(_ => Identity.Random()).ToArray();
        await Task.WhenAll(users.Select(u => chat.Connect(u, ConnectionId.New())));
        await Task.WhenAll(users.Select((u, i) => chat.SetName(u, $"user {i}")));
        var sends = await Task.WhenAll(users.SelectMany(u => Enumerable.Range(0, 5).Select(i => chat.Send(u, $"hi {i}"))));
        Assert.All(sends, s => Assert.True(s.IsCommitted, s.ToString()));

        // The user grains really are spread over both silos.
        var statistics = await cluster.Client.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        var silosWithUsers = statistics.Where(s => s.GrainType.Contains("UserGrain") && s.ActivationCount > 0).Select(s => s.SiloAddress).Distinct();
        Assert.Equal(2, silosWithUsers.Count());

        Assert.Equal(40, await TestPostgres.ScalarAsync<long>(connectionString, """SELECT count(*) FROM chat."user" WHERE online AND name LIKE 'user %'"""));
        Assert.Equal(200, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(DISTINCT \"offset\") FROM chat.message"));
        Assert.Equal(200, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT max(\"offset\") FROM chat.message"));

        var delivered = new List<ulong>();
        while (delivered.Count < 200)
        {
            var update = await watcher.NextUpdateAsync();
            delivered.AddRange(update.TransactionUpdate.Tables.SelectMany(t => t.InsertedMessages).Select(m => m.Offset));
        }
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (ulong)i), delivered);
        await watcher.CloseAsync();
    }

    [Fact]
    public async Task A_silo_joins_with_its_PostgreSQL_connections_already_open()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        await using var cluster = await ChatCluster.StartAsync(connectionString, serviceId: "warm");
        var database = new Npgsql.NpgsqlConnectionStringBuilder(connectionString).Database;
        // Opened before the silo became active, not by a call: nothing has called a grain yet.
        // (The silo's periodic jobs may have opened one or two more meanwhile.)
        var open = await TestPostgres.ScalarAsync<long>(connectionString,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = @database AND application_name = @application",
            ("database", database!), ("application", ChatSiloConfiguration.SiloApplicationName));
        Assert.InRange(open, new PostgresWarmUpOptions().WarmConnections, 100);
    }

    /// <summary>
    /// A silo places new grains only on silos whose grain manifest it has already fetched, which happens a moment after they
    /// join; on a busy machine that moment can outlast the test's first calls, and every grain lands on the first silo.
    /// </summary>
    private static async Task EverySiloCanPlaceOnAll(Orleans.TestingHost.InProcessTestCluster cluster, int silos)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var silo in cluster.Silos)
        {
            var manifest = silo.SiloHost.Services.GetRequiredService<IClusterManifestProvider>();
            while (manifest.Current.Silos.Count < silos)
            {
                Assert.True(DateTime.UtcNow < deadline, $"silo {silo.SiloAddress} still knows the manifests of only {manifest.Current.Silos.Count} silos");
                await Task.Delay(100);
            }
        }
    }
}
