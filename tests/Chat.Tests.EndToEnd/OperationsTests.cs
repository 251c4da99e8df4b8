using System.Net;
using Chat.Development;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>What operators rely on, checked on the real stack binary: readiness that follows PostgreSQL, the dashboard, metrics.</summary>
public class OperationsTests : IAsyncLifetime
{
    private LocalPostgresCluster _server = null!;

    public async Task InitializeAsync() => _server = await TestPostgres.CreateServerAsync();
    public Task DisposeAsync() => _server.DestroyAsync();

    [Fact]
    public async Task Readiness_follows_PostgreSQL_and_the_dashboard_and_metrics_answer()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync(_server);
        using var stack = StackProcess.Start(connectionString, clusterId: "ops", serviceId: "ops");
        await stack.WaitUntilReadyAsync();
        using var http = new HttpClient { BaseAddress = new Uri(stack.HttpAddress), Timeout = TimeSpan.FromSeconds(10) };

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        var dashboard = await http.GetAsync("/dashboard");
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Contains("Orleans", await dashboard.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);

        // A reducer call, so that our own meters have something to say.
        using (var channel = GrpcChannel.ForAddress(stack.GrpcAddress))
        {
            var chat = new V1.Chat.ChatClient(channel);
            var owner = await chat.CreateIdentityAsync(new V1.CreateIdentityRequest());
            await new V1.Databases.DatabasesClient(channel).PublishAsync(new V1.PublishRequest { Database = "ops" }, TestGateway.Bearer(owner.Token));
            await chat.SendMessageAsync(new V1.SendMessageRequest { Database = "ops", Text = "metered" }, TestGateway.Bearer(owner.Token));
        }
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("chat_reducer_calls", metrics);
        Assert.Contains("chat_group_commit_size", metrics);

        await _server.StopAsync(immediate: true);
        await WaitForStatus(http, HttpStatusCode.ServiceUnavailable, "not ready while PostgreSQL is down");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode); // alive all the same: no restart needed

        await _server.RestartAsync();
        await WaitForStatus(http, HttpStatusCode.OK, "ready again once PostgreSQL is back");
    }

    private static async Task WaitForStatus(HttpClient http, HttpStatusCode expected, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpStatusCode last;
        while ((last = (await http.GetAsync("/readyz")).StatusCode) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"/readyz still answers {last}; expected {expected}: {what}");
            await Task.Delay(200);
        }
    }
}
