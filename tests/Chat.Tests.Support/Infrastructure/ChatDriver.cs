namespace Chat.Tests.Infrastructure;

/// <summary>Calls the grains the way the gateway will: one caller, one database.</summary>
public sealed class ChatDriver(IClusterClient client, string database)
{
    public string Database => database;

    /// <summary>The driver stands in for one gateway; the janitor leaves its connections alone only while it heartbeats.</summary>
    public Guid GatewayId { get; } = Guid.NewGuid();

    public Task<PublishResult> Publish(Identity owner, bool clear = false, ModuleSettings? settings = null) =>
        client.GetDatabaseGrain(database).Publish(owner, clear, settings);

    public Task<ReducerResult> Connect(Identity identity, ConnectionId connection) =>
        client.GetUserGrain(database, identity).IdentityConnected(new ReducerCaller(identity, connection), GatewayId);

    public Task<ReducerResult> Disconnect(Identity identity, ConnectionId connection) =>
        client.GetUserGrain(database, identity).IdentityDisconnected(new ReducerCaller(identity, connection));

    public Task<ReducerResult> SetName(Identity identity, string name, string? idempotencyKey = null) =>
        client.GetUserGrain(database, identity).SetName(new ReducerCaller(identity, IdempotencyKey: idempotencyKey), name);

    public async Task<ReducerResult> Send(Identity identity, string text, string? idempotencyKey = null) =>
        (await client.GetMessageLogGrain(database).SendMessages([new MessageToSend(new ReducerCaller(identity, IdempotencyKey: idempotencyKey), text)]))[0];

    public Task<UserRow?> User(Identity identity) => client.GetUserGrain(database, identity).Read();
}
