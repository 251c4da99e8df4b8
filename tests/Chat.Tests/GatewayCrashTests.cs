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

        var grpcPort = FreePort();
        using var stack = StartStack(connectionString, grpcPort);
        try
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
            await WaitUntilServing(channel, stack);
            var chat = new V1.Chat.ChatClient(channel);
            var owner = await chat.CreateIdentityAsync(new V1.CreateIdentityRequest());
            await new V1.Databases.DatabasesClient(channel).PublishAsync(new V1.PublishRequest { Database = "doomed" }, TestGateway.Bearer(owner.Token));

            var headers = TestGateway.Bearer(owner.Token);
            headers.Add("database", "doomed");
            using var call = chat.Connect(headers);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.True(await IsOnline(connectionString, owner.Identity));

            stack.Kill(entireProcessTree: true);
            await stack.WaitForExitAsync();
            var killedAt = Stopwatch.StartNew();

            while (await IsOnline(connectionString, owner.Identity))
            {
                Assert.True(killedAt.Elapsed < TimeSpan.FromSeconds(30), "the user is still online 30 s after its gateway was killed");
                await Task.Delay(100);
            }
            Assert.Equal(0, await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.connection"));
        }
        finally
        {
            if (!stack.HasExited) stack.Kill(entireProcessTree: true);
        }
    }

    private static Process StartStack(string connectionString, int grpcPort)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Chat.Silo.dll")])
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Chat"] = connectionString,
            ["Chat__ClusterId"] = "crashed",
            ["Chat__ServiceId"] = "crash",
            ["Chat__SiloPort"] = FreePort().ToString(),
            ["Chat__GatewayPort"] = FreePort().ToString(),
            ["Chat__Auth__SigningKey"] = TestGateway.SigningKey,
            ["Chat__Gateway__HeartbeatInterval"] = "00:00:01",
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpcPort}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{FreePort()}",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task WaitUntilServing(GrpcChannel channel, Process stack)
    {
        var health = new Grpc.Health.V1.Health.HealthClient(channel);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(stack.HasExited, $"the stack exited with code {(stack.HasExited ? stack.ExitCode : 0)} before serving");
            try
            {
                var status = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                if (status.Status == Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving) return;
            }
            catch (Grpc.Core.RpcException) { }
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(90), "the stack did not become ready within 90 s");
            await Task.Delay(200);
        }
    }

    private static async Task<bool> IsOnline(string connectionString, string identity) =>
        await TestPostgres.ScalarAsync<bool>(connectionString,
            """SELECT coalesce(bool_or(online), false) FROM chat."user" WHERE identity = @identity""", ("identity", Identity.Parse(identity).ToBytes()));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
