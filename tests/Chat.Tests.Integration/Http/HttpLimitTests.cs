using System.Net;

namespace Chat.Tests.Http;

/// <summary>The HTTP API draws from the same gateway limits as the gRPC API, and a refusal is a 429 with the reason.</summary>
public class HttpLimitTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task New_identities_and_anonymous_calls_share_the_addresss_identity_budget_with_gRPC()
    {
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Gateway:IdentitiesPerMinutePerAddress"] = "0.0001",
            ["Chat:Gateway:IdentityBurstPerAddress"] = "2",
        });
        using var http = HttpApi.For(gateway);
        await http.CreateIdentityAsync();
        await gateway.CreateIdentityAsync(); // the gRPC CreateIdentity takes the second

        var refused = await http.SendAsync(HttpMethod.Post, "/v1/identity");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.Status);
        Assert.NotEqual("", refused.Body.Trim());
        var anonymous = await http.CallAsync(GatewayFixture.Database, "send_message", """["no token"]""", token: null);
        Assert.Equal(HttpStatusCode.TooManyRequests, anonymous.Status);
        Assert.False(anonymous.Headers.Contains("spacetime-identity"));
    }

    [Fact]
    public async Task A_follow_past_the_gateways_follower_limit_is_refused_before_any_line_and_the_slot_comes_back()
    {
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Gateway:MaxLogFollowers"] = "1",
        });
        using var http = HttpApi.For(gateway);
        var (db, owner, _) = await fixture.NewDatabaseAsync("http-followers");
        using (var request = http.Request(HttpMethod.Get, $"/v1/database/{db}/logs?follow=true", owner))
        using (var first = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal(1, gateway.LogFollowing.Followers);
            var second = await http.LogsAsync(db, owner, "?follow=true");
            Assert.Equal(HttpStatusCode.TooManyRequests, second.Status);
            Assert.Contains("limit", second.Body);
            // Without follow nothing is held, so the limit does not apply.
            Assert.Equal(HttpStatusCode.OK, (await http.LogsAsync(db, owner, "?num_lines=1")).Status);
        }
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (gateway.LogFollowing.Followers != 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(0, gateway.LogFollowing.Followers);
    }
}
