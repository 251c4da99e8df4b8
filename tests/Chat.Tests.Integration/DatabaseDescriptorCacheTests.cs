using Chat.Grains;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.Tests;

/// <summary>
/// Each silo's <see cref="DatabaseDescriptorCache"/> serves its grains the descriptor without a hop while fresh; a publish,
/// settings change or delete still applies on every silo to every call made after it was answered.
/// </summary>
public class DatabaseDescriptorCacheTests
{
    [Fact]
    public async Task A_settings_change_or_delete_applies_at_once_on_every_silo()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        await using var cluster = await ChatCluster.StartAsync(connectionString, silos: 2, serviceId: "descriptor-cache");
        var caches = cluster.Silos.Select(s => s.SiloHost.Services.GetRequiredService<DatabaseDescriptorCache>()).ToList();
        Assert.Equal(2, caches.Distinct().Count());
        var owner = Identity.Random();
        var driver = new ChatDriver(cluster.Client, "cached");
        var published = (await driver.Publish(owner)).Database!;

        foreach (var cache in caches)
            Assert.Equal(published, await cache.Get("cached")); // both silos now hold it

        var strict = ModuleSettings.Default with { MaxNameLength = 3 };
        Assert.True((await cluster.Client.GetDatabaseGrain("cached").UpdateSettings(owner, strict)).IsCommitted);
        foreach (var cache in caches)
            Assert.Equal(strict, (await cache.Get("cached"))!.Settings);
        // And through the grains that use it, wherever they were placed.
        var users = Enumerable.Range(0, 8).Select(_ => Identity.Random()).ToList();
        foreach (var user in users)
        {
            Assert.True((await driver.Connect(user, ConnectionId.New())).IsCommitted);
            Assert.Equal(ReducerStatus.InvalidArgument, (await driver.SetName(user, "four")).Status);
        }

        Assert.True((await cluster.Client.GetDatabaseGrain("cached").Delete(owner)).IsCommitted);
        foreach (var cache in caches)
            Assert.Null(await cache.Get("cached"));
        foreach (var user in users)
        {
            Assert.Equal(ReducerStatus.NotFound, (await driver.SetName(user, "abc")).Status);
            Assert.Equal(ReducerStatus.NotFound, (await driver.Send(user, "anyone?")).Status);
        }
    }
}
