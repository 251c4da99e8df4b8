using Chat.Frontend.Delivery;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>Calls naming databases that do not exist are refused and leave nothing behind, in the gateway or the cluster.</summary>
public class UnknownDatabaseTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Sends_to_thousands_of_unknown_names_keep_no_lane_and_no_activation()
    {
        var (_, token) = await fixture.A.CreateIdentityAsync();
        var names = Enumerable.Range(0, 400).Select(i => $"ghost-{Guid.NewGuid():N}").ToList();
        // What is measured is what stays held afterwards, not how many activations a loaded machine starts at once: 800
        // concurrent first reads of grain state could outlast the 5 s call timeout there (UNAVAILABLE, rightly), so a few at a time.
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (name, _) =>
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => fixture.A.Chat.SendMessageAsync(
                new V1.SendMessageRequest { Database = name, Text = "anyone there?" }, TestGateway.Bearer(token)).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, refused.StatusCode);
            var user = await Assert.ThrowsAsync<RpcException>(() => fixture.A.Chat.SetNameAsync(
                new V1.SetNameRequest { Database = name, Name = "ghost" }, TestGateway.Bearer(token)).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, user.StatusCode);
        });

        var sender = fixture.A.Services.GetRequiredService<MessageSender>();
        var management = fixture.Cluster.Client.GetGrain<IManagementGrain>(0);
        var ghosts = names.ToHashSet();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var statistics = await management.GetDetailedGrainStatistics();
            var left = statistics.Count(s => s.GrainId.Key.ToString() is { } key && (ghosts.Contains(key) || ghosts.Contains(key.Split('/')[0])));
            if (sender.ActiveLanes == 0 && left == 0) break;
            Assert.True(DateTime.UtcNow < deadline, $"{sender.ActiveLanes} lanes and {left} activations for unknown names are still held");
            await Task.Delay(100);
        }

        // A real database still works on the same gateway afterwards.
        var (db, owner, _) = await fixture.NewDatabaseAsync("after-ghosts");
        var sent = await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = "still here" }, TestGateway.Bearer(owner));
        Assert.Equal(1UL, sent.MessageOffset);
    }
}
