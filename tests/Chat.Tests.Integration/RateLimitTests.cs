using System.Diagnostics;
using Grpc.Core;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>Rate limits that fresh identities cannot multiply, and renames limited like messages, through the gateway.</summary>
public class RateLimitTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static async Task<(int Accepted, List<RpcException> Refused)> Count(IEnumerable<Task> calls)
    {
        var refused = new List<RpcException>();
        var accepted = 0;
        foreach (var call in calls.ToList())
        {
            try
            {
                await call;
                accepted++;
            }
            catch (RpcException e)
            {
                refused.Add(e);
            }
        }
        return (accepted, refused);
    }

    [Fact]
    public async Task Fresh_identities_cannot_multiply_the_rate_past_the_database_ceiling()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("ceiling", new V1.DatabaseSettings { DatabaseMessagesPerSecond = 1, DatabaseMessageBurst = 30 });
        var identities = new List<string>();
        for (var i = 0; i < 10; i++) identities.Add((await fixture.A.CreateIdentityAsync()).Token);

        var clock = Stopwatch.StartNew();
        var (accepted, refused) = await Count(identities.SelectMany(token => Enumerable.Range(0, 10).Select(n =>
            (Task)fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = $"flood {n}" }, TestGateway.Bearer(token)).ResponseAsync)));
        var seconds = clock.Elapsed.TotalSeconds;

        // Each identity alone was within its own limit (100 at once); together they get the ceiling's burst and its refill.
        Assert.InRange(accepted, 30, 30 + (int)Math.Ceiling(seconds) + 1);
        Assert.All(refused, e =>
        {
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.StartsWith("This database is taking too many messages: at most 1 per second from everyone together, with bursts of 30", e.Status.Detail);
        });
        Assert.Equal(accepted, await TestPostgres.ScalarAsync<long>(fixture.ConnectionString, "SELECT count(*) FROM chat.messages WHERE database = @db", ("db", db)));

        // Other databases on the same stack are not held back.
        var (other, owner, _) = await fixture.NewDatabaseAsync("neighbour");
        Assert.Equal(1UL, (await fixture.A.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = other, Text = "unaffected" }, TestGateway.Bearer(owner))).MessageOffset);
    }

    [Fact]
    public async Task Set_name_is_limited_like_send_message()
    {
        var (db, token, _) = await fixture.NewDatabaseAsync("renames", new V1.DatabaseSettings { MessagesPerSecond = 2, MessageBurst = 10 });
        using var connection = await fixture.A.ConnectAsync(db, token);
        var clock = Stopwatch.StartNew();
        var (accepted, refused) = await Count(Enumerable.Range(0, 40).Select(n =>
            (Task)fixture.A.Chat.SetNameAsync(new V1.SetNameRequest { Database = db, Name = $"name {n}" }, TestGateway.Bearer(token)).ResponseAsync));
        var seconds = clock.Elapsed.TotalSeconds;

        Assert.InRange(accepted, 10, 10 + 2 * (int)Math.Ceiling(seconds) + 1);
        Assert.NotEmpty(refused);
        Assert.All(refused, e =>
        {
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
            Assert.Equal("Too many name changes: at most 2 per second with bursts of 10; wait a moment and try again", e.Status.Detail);
        });
        await connection.CloseAsync();
    }
}
