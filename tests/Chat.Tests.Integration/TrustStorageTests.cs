using Chat.Grains;
using Chat.Development;
using Chat.Storage;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>The local PostgreSQL lets in only who holds its password; clusters made when it trusted everyone are upgraded.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class LocalPostgresPasswordTests
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public async Task Connections_without_the_password_are_refused_and_the_password_file_is_private()
    {
        var server = await TestPostgres.Shared;
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(server.PasswordFile));
        Assert.Equal(1, await TestPostgres.ScalarAsync<int>(server.ConnectionString, "SELECT 1"));

        var wrong = await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(WithPassword(server.ConnectionString, "not-the-password")));
        Assert.Equal(PostgresErrorCodes.InvalidPassword, wrong.SqlState);
        // Without one the server asks for it and the client has none.
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenAsync(WithPassword(server.ConnectionString, null)));
        // The Unix socket in the cluster's folder asks too.
        var socket = new NpgsqlConnectionStringBuilder(WithPassword(server.ConnectionString, "not-the-password"))
        {
            Host = Path.GetDirectoryName(server.DataDirectory)!,
        }.ConnectionString;
        Assert.Equal(PostgresErrorCodes.InvalidPassword, (await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(socket))).SqlState);

        // What a standalone gateway finds for a running cluster carries the password.
        var found = LocalPostgresCluster.FindRunning(Path.GetDirectoryName(server.DataDirectory)!);
        Assert.NotNull(found);
        Assert.Equal(1, await TestPostgres.ScalarAsync<int>(found, "SELECT 1"));
    }

    [Fact]
    public async Task A_cluster_that_trusted_every_local_user_gets_a_password_on_start()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"chat-tests-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        var first = await LocalPostgresCluster.StartAsync(folder, durable: false);
        LocalPostgresCluster? second = null;
        try
        {
            // What clusters made by earlier versions look like: initdb --auth=trust, no password file.
            var hba = Path.Combine(first.DataDirectory, "pg_hba.conf");
            await File.WriteAllTextAsync(hba, "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n");
            File.Delete(first.PasswordFile);
            await first.StopAsync();
            await first.RestartAsync();
            await using (var before = new NpgsqlConnection(WithPassword(first.ConnectionString, "anything")))
                await before.OpenAsync();

            second = await LocalPostgresCluster.StartAsync(folder, durable: false);

            Assert.Equal(OwnerOnly, File.GetUnixFileMode(second.PasswordFile));
            Assert.Equal(1, await TestPostgres.ScalarAsync<int>(second.ConnectionString, "SELECT 1"));
            var refused = await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(WithPassword(second.ConnectionString, "anything")));
            Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);
            Assert.DoesNotContain("trust", (await File.ReadAllLinesAsync(hba)).Where(l => !l.TrimStart().StartsWith('#')).SelectMany(l => l.Split(' ', '\t')));
        }
        finally
        {
            await (second ?? first).DestroyAsync();
        }
    }

    private static string WithPassword(string connectionString, string? password) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Password = password, Pooling = false }.ConnectionString;

    private static async Task OpenAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
    }
}

/// <summary>Which tokens a gateway accepts is decided by its own stack's settings and data folder only.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class TokenTrustTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task A_stack_with_its_own_data_folder_has_its_own_signing_key_and_refuses_another_stacks_tokens()
    {
        var (folderA, folderB) = (NewFolder("a"), NewFolder("b"));
        try
        {
            await using var a = await TestGateway.StartAsync(fixture.Cluster.Client, GeneratedKeyIn(folderA));
            await using var alsoA = await TestGateway.StartAsync(fixture.Cluster.Client, GeneratedKeyIn(folderA));
            await using var b = await TestGateway.StartAsync(fixture.Cluster.Client, GeneratedKeyIn(folderB));
            var (_, token) = await a.CreateIdentityAsync();

            var keyFile = Path.Combine(folderA, "gateway", "signing-key");
            Assert.True(File.Exists(keyFile), $"no signing key in {keyFile}");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));

            using (var accepted = await alsoA.ConnectAsync(GatewayFixture.Database, token))
                await accepted.CloseAsync();
            var refused = await Assert.ThrowsAsync<RpcException>(() => b.ConnectAsync(GatewayFixture.Database, token));
            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
            Assert.Equal("The token's signature is not valid.", refused.Status.Detail);
        }
        finally
        {
            foreach (var folder in new[] { folderA, folderB })
                if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task An_external_issuer_without_an_audience_is_refused_at_start_up()
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Auth:ExternalIssuers:0:Issuer"] = "https://login.example.test",
            ["Chat:Auth:ExternalIssuers:0:Jwks"] = """{"keys":[]}""",
        }));
        Assert.Contains("Chat:Auth:ExternalIssuers:0:Audience is empty, so tokens that issuer minted for any application would be accepted", failure.Message);

        var ours = await Assert.ThrowsAsync<OptionsValidationException>(() => TestGateway.StartAsync(fixture.Cluster.Client,
            new Dictionary<string, string?> { ["Chat:Auth:Audience"] = "" }));
        Assert.Contains("Chat:Auth:Audience is empty", ours.Message);
    }

    private static string NewFolder(string name) => Path.Combine(Path.GetTempPath(), $"chat-key-{name}-{Guid.NewGuid():N}");

    private static Dictionary<string, string?> GeneratedKeyIn(string dataDirectory) => new()
    {
        ["Chat:Auth:SigningKey"] = "",
        ["Chat:DataDirectory"] = dataDirectory,
    };
}

/// <summary>A PostgreSQL outage silences every gateway; the janitor must not take that silence for death.</summary>
public class JanitorOutageTests : IAsyncLifetime
{
    private static readonly TimeSpan GatewayTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(2);

    private LocalPostgresCluster _server = null!;

    public async Task InitializeAsync() => _server = await TestPostgres.CreateServerAsync();
    public Task DisposeAsync() => _server.DestroyAsync();

    [Fact]
    public async Task An_outage_longer_than_the_gateway_timeout_ends_only_the_gateway_that_stopped_heartbeating()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync(_server);
        await using var cluster = await ChatCluster.StartAsync(connectionString, serviceId: "janitor-outage", configure: silo =>
            silo.Services.Configure<ConnectionCleanupOptions>(o => (o.GatewayTimeout, o.Interval) = (GatewayTimeout, TimeSpan.FromMilliseconds(200))));
        var (live, dead) = (new ChatDriver(cluster.Client, "presence"), new ChatDriver(cluster.Client, "presence"));
        var (owner, alice, bob) = (Identity.Random(), Identity.Random(), Identity.Random());
        Assert.True((await live.Publish(owner)).Result.IsCommitted);

        using var stopLive = new CancellationTokenSource();
        using var stopDead = new CancellationTokenSource();
        var liveHeartbeats = HeartbeatAsync(cluster.Client, live.GatewayId, stopLive.Token);
        var deadHeartbeats = HeartbeatAsync(cluster.Client, dead.GatewayId, stopDead.Token);
        var (aliceConnection, bobConnection) = (ConnectionId.New(), ConnectionId.New());
        Assert.True((await live.Connect(alice, aliceConnection)).IsCommitted);
        Assert.True((await dead.Connect(bob, bobConnection)).IsCommitted);

        // One gateway dies with the outage; the other lives through it, its heartbeats failing until storage is back.
        stopDead.Cancel();
        await deadHeartbeats;
        await _server.StopAsync(immediate: true);
        await Task.Delay(GatewayTimeout + TimeSpan.FromSeconds(2)); // how long the outage lasts: longer than the timeout
        await _server.RestartAsync();

        // The dead gateway's connection ends: the janitor has judged the gateways since storage came back.
        await WaitUntilAsync(async () => !await Exists(connectionString, bobConnection), "the dead gateway's connection to end");
        Assert.True(await Exists(connectionString, aliceConnection), "the live gateway's connection was ended after the outage");
        Assert.True((await live.User(alice))!.Online);
        Assert.False((await live.User(bob))!.Online);

        stopLive.Cancel();
        await liveHeartbeats;
    }

    /// <summary>What a gateway's ConnectionRegistry does: heartbeat every interval, failures ignored.</summary>
    private static async Task HeartbeatAsync(IClusterClient client, Guid gatewayId, CancellationToken stop)
    {
        var registry = client.GetGrain<IGatewayRegistryGrain>(0);
        while (!stop.IsCancellationRequested)
        {
            try { await registry.Heartbeat(gatewayId); }
            catch (Exception) when (!stop.IsCancellationRequested) { }
            try { await Task.Delay(HeartbeatInterval, stop); }
            catch (OperationCanceledException) { }
        }
    }

    private static async Task<bool> Exists(string connectionString, ConnectionId connection) =>
        await TestPostgres.ScalarAsync<long>(connectionString, "SELECT count(*) FROM chat.connection WHERE id = @id", ("id", connection.Value)) > 0;

    /// <summary>Waits for a condition; the bound only keeps a broken build from hanging the run.</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (started.Elapsed > TimeSpan.FromMinutes(2)) Assert.Fail($"Gave up waiting for {what}.");
            await Task.Delay(100);
        }
    }
}

/// <summary>
/// A database's catalog row and its grain state are two writes; when storage fails between them, the catalog wins at the
/// grain's next activation. The failure is reproduced by doing the first write alone, as the grain's store call does.
/// </summary>
public class DatabaseCatalogHealingTests
{
    [Fact]
    public async Task A_delete_or_clear_that_stopped_after_the_catalog_write_is_completed_by_the_next_activation()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        var (owner, other) = (Identity.Random(), Identity.Random());
        long oldId;
        await using (var first = await ChatCluster.StartAsync(connectionString, serviceId: "heal"))
        {
            Assert.True((await new ChatDriver(first.Client, "half-deleted").Publish(owner)).Result.IsCommitted);
            var cleared = new ChatDriver(first.Client, "half-cleared");
            oldId = (await cleared.Publish(owner)).Database!.Id;
            Assert.True((await cleared.Connect(owner, ConnectionId.New())).IsCommitted);
            Assert.True((await cleared.Send(owner, "before the clear")).IsCommitted);
        }

        long newId;
        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
        {
            var store = new DatabaseCatalogStore(dataSource);
            await store.DeleteDatabaseAsync((await store.FindDatabaseAsync("half-deleted"))!.Value.Id);
            newId = (await store.ReplaceDatabaseAsync(oldId, "half-cleared", owner, DateTime.UtcNow)).Id;
        }
        Assert.NotEqual(oldId, newId);

        await using var second = await ChatCluster.StartAsync(connectionString, serviceId: "heal");
        // Deleted: unknown, and free for anyone to publish.
        Assert.Null(await second.Client.GetDatabaseGrain("half-deleted").Describe());
        Assert.True((await new ChatDriver(second.Client, "half-deleted").Publish(other)).Created);
        // Cleared: the new catalog row is the database, and it works.
        var healed = new ChatDriver(second.Client, "half-cleared");
        Assert.Equal(newId, (await second.Client.GetDatabaseGrain("half-cleared").Describe())!.Id);
        Assert.True((await healed.Connect(owner, ConnectionId.New())).IsCommitted);
        var sent = await healed.Send(owner, "after the clear");
        Assert.True(sent.IsCommitted, sent.ToString());
        Assert.Equal("after the clear", (string)Assert.Single(await TestPostgres.RowsAsync(connectionString,
            "SELECT text FROM chat.message WHERE database_id = @id", ("id", newId)))[0]!);
    }
}
