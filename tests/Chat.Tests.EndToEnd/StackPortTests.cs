using System.Globalization;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>Two stacks on one machine: the second may not share the first one's ports, least of all Orleans' (which would not say so).</summary>
public class StackPortTests
{
    [Fact]
    public async Task A_second_stack_on_the_same_Orleans_ports_refuses_to_start_and_the_first_keeps_serving()
    {
        var (siloPort, gatewayPort) = (StackProcess.FreePort(), StackProcess.FreePort());
        Dictionary<string, string> Settings(string name) => new()
        {
            ["Chat__SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Chat__GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Chat__DataDirectory"] = Path.Combine(Path.GetTempPath(), $"chat-ports-{name}-{Guid.NewGuid():N}"),
        };
        // Each stack has its own database (as with its own data folder) and its own gRPC and HTTP ports; only Orleans' ports are the same.
        using var first = StackProcess.Start(await TestPostgres.CreateDatabaseAsync(), clusterId: "ports-first", serviceId: "ports", Settings("first"));
        await first.WaitUntilReadyAsync();

        using var second = StackProcess.Start(await TestPostgres.CreateDatabaseAsync(), clusterId: "ports-second", serviceId: "ports", Settings("second"));
        Assert.Equal(1, await second.WaitForExitInsteadOfReadyAsync());
        Assert.Contains($"Orleans silo port {siloPort} on 127.0.0.1 is already in use (another chat stack?); set Chat__SiloPort / Chat__GatewayPort", second.Output);

        await first.WaitUntilReadyAsync();
        using var channel = GrpcChannel.ForAddress(first.GrpcAddress);
        var owner = await new V1.Chat.ChatClient(channel).CreateIdentityAsync(new V1.CreateIdentityRequest());
        await new V1.Databases.DatabasesClient(channel).PublishAsync(new V1.PublishRequest { Database = "still-serving" }, TestGateway.Bearer(owner.Token));
        await new V1.Chat.ChatClient(channel).SendMessageAsync(new V1.SendMessageRequest { Database = "still-serving", Text = "hello" }, TestGateway.Bearer(owner.Token));
    }
}
