using System.Collections.Concurrent;
using Grpc.Core;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>
/// Three silos on PostgreSQL membership, clients sending through a gateway, one silo killed without shutdown. The silos
/// and the client run with the failure detection and response timeouts we ship (Chat:Cluster, ChatClusterOptions).
/// </summary>
public class SiloFailureTests
{
    [Fact]
    public async Task Killing_a_silo_loses_no_acknowledged_message_and_its_grains_come_back_elsewhere()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        await using var cluster = await ChatCluster.StartAsync(connectionString, silos: 3, serviceId: "kill");
        await using var gateway = await TestGateway.StartAsync(cluster.Client);
        var (_, owner) = await gateway.CreateIdentityAsync();
        await gateway.Databases.PublishAsync(new V1.PublishRequest { Database = "survivors", Settings = new V1.DatabaseSettings { MessagesPerSecond = 0 } }, TestGateway.Bearer(owner));
        var senders = new List<string>();
        for (var i = 0; i < 8; i++) senders.Add((await gateway.CreateIdentityAsync()).Token);

        var acknowledged = new ConcurrentDictionary<string, ulong>();
        var failures = new ConcurrentBag<(StatusCode Code, string Detail)>();
        using var stop = new CancellationTokenSource();
        var load = senders.Select((token, s) => Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var text = $"sender {s} message {n}";
                try
                {
                    var reply = await gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = "survivors", Text = text }, TestGateway.Bearer(token));
                    acknowledged[text] = reply.MessageOffset;
                }
                catch (RpcException e)
                {
                    failures.Add((e.StatusCode, e.Status.Detail)); // not acknowledged: the client would retry with a new call
                    await Task.Delay(50);
                }
            }
        })).ToArray();

        await Task.Delay(1000);
        var victim = cluster.Silos[1];
        await cluster.KillSiloAsync(victim);
        var killedAt = acknowledged.Count;
        await Task.Delay(8000);
        stop.Cancel();
        await Task.WhenAll(load);

        // Service came back: well after the kill, calls succeed again on the surviving silos.
        Assert.True(acknowledged.Count > killedAt + 50, $"only {acknowledged.Count - killedAt} messages were acknowledged after the kill");
        Assert.All(failures, f => Assert.True(f.Code is StatusCode.Unavailable or StatusCode.DeadlineExceeded, $"{f.Code}: {f.Detail}"));
        var after = await gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = "survivors", Text = "after the storm" }, TestGateway.Bearer(owner));
        Assert.True(after.MessageOffset > 0);

        // Every acknowledged message is stored exactly once, at the offset it was acknowledged with; offsets have no gap.
        var rows = await TestPostgres.RowsAsync(connectionString, "SELECT \"offset\", text FROM chat.messages WHERE database = 'survivors' ORDER BY \"offset\"");
        Assert.Equal(Enumerable.Range(1, rows.Count).Select(i => (long)i), rows.Select(r => (long)r[0]!));
        var byText = rows.GroupBy(r => (string)r[1]!).ToDictionary(g => g.Key, g => g.Select(r => (long)r[0]!).ToList());
        foreach (var (text, offset) in acknowledged)
            Assert.Equal([(long)offset], byText[text]);

        // The dead silo is declared dead in the membership table.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await TestPostgres.ScalarAsync<int>(connectionString,
                   "SELECT Status FROM OrleansMembershipTable WHERE Port = @port AND Generation = @generation",
                   ("port", victim.SiloAddress.Endpoint.Port), ("generation", victim.SiloAddress.Generation)) != 6)
        {
            Assert.True(DateTime.UtcNow < deadline, "the killed silo was not declared dead in the membership table");
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task A_rolling_restart_under_steady_load_fails_at_most_a_few_retriable_calls()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        await using var cluster = await ChatCluster.StartAsync(connectionString, silos: 3, serviceId: "rolling");
        await using var gateway = await TestGateway.StartAsync(cluster.Client);
        var (_, owner) = await gateway.CreateIdentityAsync();
        await gateway.Databases.PublishAsync(new V1.PublishRequest { Database = "rolling", Settings = new V1.DatabaseSettings { MessagesPerSecond = 0 } }, TestGateway.Bearer(owner));

        var acknowledged = new ConcurrentDictionary<string, ulong>();
        var failures = new ConcurrentBag<(StatusCode Code, string Detail)>();
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 4).Select(s => Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var text = $"sender {s} message {n}";
                try
                {
                    acknowledged[text] = (await gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = "rolling", Text = text }, TestGateway.Bearer(owner))).MessageOffset;
                }
                catch (RpcException e)
                {
                    failures.Add((e.StatusCode, e.Status.Detail));
                    await Task.Delay(50);
                }
                await Task.Delay(5); // steady, not flat out
            }
        })).ToArray();

        foreach (var silo in cluster.Silos.ToList())
        {
            await Task.Delay(1000);
            await cluster.StopSiloAsync(silo);       // graceful: grains deactivate, pending group commits flush
            await cluster.StartAdditionalSiloAsync();
        }
        await Task.Delay(1000);
        stop.Cancel();
        await Task.WhenAll(load);

        // What a client sees: calls keep succeeding; the few that fail while a silo leaves are UNAVAILABLE, worth a retry.
        Assert.All(failures, f => Assert.True(f.Code is StatusCode.Unavailable, $"{f.Code}: {f.Detail}"));
        Assert.True(failures.Count <= acknowledged.Count / 20, $"{failures.Count} failed calls against {acknowledged.Count} acknowledged");
        var rows = await TestPostgres.RowsAsync(connectionString, "SELECT \"offset\", text FROM chat.messages WHERE database = 'rolling' ORDER BY \"offset\"");
        Assert.Equal(Enumerable.Range(1, rows.Count).Select(i => (long)i), rows.Select(r => (long)r[0]!));
        var byText = rows.GroupBy(r => (string)r[1]!).ToDictionary(g => g.Key, g => g.Select(r => (long)r[0]!).ToList());
        foreach (var (text, offset) in acknowledged)
            Assert.Equal([(long)offset], byText[text]);
    }
}
