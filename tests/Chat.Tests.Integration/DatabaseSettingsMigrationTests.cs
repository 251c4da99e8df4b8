using Chat.Grains;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Chat.Tests;

/// <summary>
/// A database's facts have one home, its catalog row (migration 0011). Deployments from before kept the settings in the
/// database grain's Orleans state; the grain moves them to the row on its first activation, and nothing is lost.
/// </summary>
public class DatabaseSettingsMigrationTests
{
    /// <summary>Not the defaults, including the values JSON serializers like to drop (0 and false).</summary>
    private static readonly ModuleSettings Custom = ModuleSettings.Default with
    {
        MaxMessageLength = 10, UniqueNames = true, MessagesPerSecond = 0, LogMessages = false, DatabaseMessageBurst = 7,
    };

    [Fact]
    public async Task Settings_kept_in_grain_state_before_migration_0011_move_to_the_catalog_row_and_the_state_is_cleared()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        var owner = Identity.Random();
        var createdAt = ChatReducers.TruncateToMicroseconds(DateTime.UtcNow);
        await using (var before = await ChatCluster.StartAsync(connectionString, serviceId: "settings-move"))
        {
            // What a deployment before 0011 left: a catalog row without settings, and the settings in the grain's state.
            var id = await TestPostgres.ScalarAsync<long>(connectionString,
                "INSERT INTO chat.database (name, owner, created_at) VALUES ('legacy', @owner, @at) RETURNING id",
                ("owner", owner.ToBytes()), ("at", createdAt));
            await WriteLegacyStateAsync(before, "legacy", new DatabaseDescriptor("legacy", id, owner, createdAt, Custom));
            Assert.Equal(1, await LegacyStatesAsync(connectionString));

            var described = await before.Client.GetDatabaseGrain("legacy").Describe();
            Assert.Equal(new DatabaseDescriptor("legacy", id, owner, createdAt, Custom), described);
            Assert.Equal(0, await LegacyStatesAsync(connectionString));
            Assert.Equal(10, await TestPostgres.ScalarAsync<int>(connectionString,
                "SELECT (settings->>'MaxMessageLength')::int FROM chat.database WHERE name = 'legacy'"));
        }

        // Another activation reads the row alone, and the settings work: a message over 10 characters is refused.
        await using var after = await ChatCluster.StartAsync(connectionString, serviceId: "settings-move");
        Assert.Equal(Custom, (await after.Client.GetDatabaseGrain("legacy").Describe())!.Settings);
        var driver = new ChatDriver(after.Client, "legacy");
        Assert.True((await driver.Connect(owner, ConnectionId.New())).IsCommitted);
        Assert.Equal(ReducerStatus.InvalidArgument, (await driver.Send(owner, "longer than ten")).Status);
        Assert.True((await driver.Send(owner, "short")).IsCommitted);
    }

    [Fact]
    public async Task A_published_database_keeps_its_settings_on_the_catalog_row_only()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        var owner = Identity.Random();
        await using (var first = await ChatCluster.StartAsync(connectionString, serviceId: "settings-row"))
        {
            Assert.True((await new ChatDriver(first.Client, "rowed").Publish(owner, settings: Custom)).Created);
            var changed = Custom with { MaxNameLength = 5 };
            Assert.True((await first.Client.GetDatabaseGrain("rowed").UpdateSettings(owner, changed)).IsCommitted);
        }
        Assert.Equal(0, await LegacyStatesAsync(connectionString));
        await using var second = await ChatCluster.StartAsync(connectionString, serviceId: "settings-row");
        Assert.Equal(Custom with { MaxNameLength = 5 }, (await second.Client.GetDatabaseGrain("rowed").Describe())!.Settings);
    }

    /// <summary>Writes the grain state as the silo's own storage provider would have, before the grain activates.</summary>
    private static async Task WriteLegacyStateAsync(InProcessTestCluster cluster, string name, DatabaseDescriptor database)
    {
        var storage = cluster.Silos[0].SiloHost.Services.GetRequiredKeyedService<IGrainStorage>(ChatSiloConfiguration.GrainStorage);
        var grainId = cluster.Client.GetDatabaseGrain(name).GetGrainId();
        await storage.WriteStateAsync("database", grainId, new GrainState<DatabaseState>(new DatabaseState { Database = database }));
    }

    private static Task<long> LegacyStatesAsync(string connectionString) =>
        TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM orleansstorage WHERE payloadbinary IS NOT NULL");
}
