using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>
/// The real stack binary (silo + co-hosted gateway) in its own process, killed with SIGKILL while users
/// are connected: another cluster on the same PostgreSQL must take them offline within the configured time.
/// </summary>
public class GatewayCrashTests
{
    [Fact]
    public async Task Users_of_a_killed_gateway_go_offline_within_the_configured_timeout()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        // The survivor: same service (grain state), its own cluster id, a 3 s gateway timeout.
        await using var survivor = await ChatCluster.StartAsync(connectionString, serviceId: "crash", clusterId: "survivor", configure: GatewayFixture.QuickJanitor);

        using var stack = StackProcess.Start(connectionString, clusterId: "crashed", serviceId: "crash");
        await stack.WaitUntilReadyAsync();
        using var channel = GrpcChannel.ForAddress(stack.GrpcAddress);
        var chat = new V1.Chat.ChatClient(channel);
        var owner = await chat.CreateIdentityAsync(new V1.CreateIdentityRequest());
        await new V1.Databases.DatabasesClient(channel).PublishAsync(new V1.PublishRequest { Database = "doomed" }, TestGateway.Bearer(owner.Token));

        var headers = TestGateway.Bearer(owner.Token);
        headers.Add("database", "doomed");
        using var call = chat.Connect(headers);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(await IsOnline(connectionString, owner.Identity));

        stack.Kill();
        var killedAt = Stopwatch.StartNew();
        while (await IsOnline(connectionString, owner.Identity))
        {
            Assert.True(killedAt.Elapsed < TimeSpan.FromSeconds(60), "the user is still online 60 s after its gateway was killed");
            await Task.Delay(100);
        }
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.connection"));
    }

    private static async Task<bool> IsOnline(string connectionString, string identity) =>
        await TestPostgres.ScalarAsync<bool>(connectionString,
            """SELECT coalesce(bool_or(online), false) FROM chat."user" WHERE identity = @identity""", ("identity", Identity.Parse(identity).ToBytes()));
}
