using Chat.Api.V1;
using Grpc.Core;

namespace Chat.Tests;

/// <summary>Databases.Describe over real gRPC: the tables SQL sees, every reducer with who may call it, the settings.</summary>
public class DescribeTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Describe_gives_tables_reducers_with_their_callers_and_the_settings()
    {
        var (_, token) = await fixture.A.CreateIdentityAsync();
        var db = $"describe-{Guid.NewGuid():N}"[..24];
        await fixture.A.Databases.PublishAsync(new PublishRequest { Database = db, Settings = new DatabaseSettings { MaxMessageLength = 300, UniqueNames = true } },
            TestGateway.Bearer(token));

        // Any identity may describe a database (through the other gateway too), not only its owner.
        var (_, stranger) = await fixture.B.CreateIdentityAsync();
        var described = await fixture.B.Databases.DescribeAsync(new DescribeRequest { Database = db }, TestGateway.Bearer(stranger));

        Assert.Equal(db, described.Database.Name);
        Assert.Equal(300u, described.Database.Settings.MaxMessageLength);
        Assert.True(described.Database.Settings.UniqueNames);
        Assert.Equal(64u, described.Database.Settings.MaxNameLength);

        var user = described.Tables.Single(t => t.Name == "User");
        Assert.Equal("identity", user.PrimaryKey);
        Assert.Equal([("identity", Api.V1.SqlType.Identity, false), ("name", Api.V1.SqlType.String, true), ("online", Api.V1.SqlType.Bool, false)],
            user.Columns.Select(c => (c.Name, c.Type, c.Nullable)));
        var message = described.Tables.Single(t => t.Name == "Message");
        Assert.Equal("offset", message.PrimaryKey);
        Assert.Equal(["sender", "sent", "text", "offset"], message.Columns.Select(c => c.Name));

        var send = described.Reducers.Single(r => r.Name == "send_message");
        Assert.True(send.ClientCallable);
        Assert.Equal([("text", "string")], send.Parameters.Select(p => (p.Name, p.Type)));
        Assert.Equal("name", Assert.Single(described.Reducers.Single(r => r.Name == "set_name").Parameters).Name);
        foreach (var lifecycle in new[] { "identity_connected", "identity_disconnected" })
        {
            var reducer = described.Reducers.Single(r => r.Name == lifecycle);
            Assert.False(reducer.ClientCallable);
            Assert.StartsWith("the server", reducer.CalledBy);
            // What Describe says is what a call meets.
            var refused = await Assert.ThrowsAsync<RpcException>(() => fixture.A.Chat.CallReducerAsync(
                new CallReducerRequest { Database = db, Reducer = lifecycle, ArgsJson = "[]" }, TestGateway.Bearer(token)).ResponseAsync);
            Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        }
    }

    [Fact]
    public async Task Describe_refuses_a_missing_database_a_bad_name_and_no_token()
    {
        var (_, token) = await fixture.A.CreateIdentityAsync();
        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            fixture.A.Databases.DescribeAsync(new DescribeRequest { Database = "no-such-db-here" }, TestGateway.Bearer(token)).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Equal("Database 'no-such-db-here' does not exist.", missing.Status.Detail);

        var bad = await Assert.ThrowsAsync<RpcException>(() =>
            fixture.A.Databases.DescribeAsync(new DescribeRequest { Database = "Not A Name" }, TestGateway.Bearer(token)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);

        var anonymous = await Assert.ThrowsAsync<RpcException>(() =>
            fixture.A.Databases.DescribeAsync(new DescribeRequest { Database = GatewayFixture.Database }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
    }
}
