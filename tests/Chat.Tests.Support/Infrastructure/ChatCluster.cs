using Chat.Grains;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;

namespace Chat.Tests.Infrastructure;

/// <summary>
/// A real Orleans cluster in this process: silos with the chat grains on real PostgreSQL, membership
/// through the Orleans ADO.NET clustering provider (not the test host's in-memory one), and a client.
/// </summary>
public static class ChatCluster
{
    public static async Task<InProcessTestCluster> StartAsync(string connectionString, short silos = 1, string serviceId = "chat-tests",
        string? clusterId = null, Action<ISiloBuilder>? configure = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ServiceId = serviceId;
        if (clusterId is not null) builder.Options.ClusterId = clusterId;
        UseRealMembership(builder.Options);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseChatClustering(connectionString, TestClusterCredentials.Credentials);
            silo.AddChat(connectionString);
            configure?.Invoke(silo);
        });
        builder.ConfigureClient(client => client.UseAdoNetClustering(o =>
        {
            o.Invariant = ChatSiloConfiguration.AdoNetInvariant;
            o.ConnectionString = connectionString;
        }).UseChatClusterSettings(TestClusterCredentials.Credentials)); // the standalone gateway's client settings
        builder.ConfigureHost(host => host.Logging.SetMinimumLevel(LogLevel.Warning));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>
    /// The in-process test host registers its in-memory membership table after our configuration,
    /// so ours would lose; its switch for that is internal in 10.4.2 (public on the classic TestCluster).
    /// </summary>
    private static void UseRealMembership(InProcessTestClusterOptions options)
    {
        var property = typeof(InProcessTestClusterOptions).GetProperty("UseTestClusterMembership",
            System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public)
            ?? throw new InvalidOperationException("Orleans.TestingHost changed: InProcessTestClusterOptions.UseTestClusterMembership is gone.");
        property.SetValue(options, false);
    }
}

/// <summary>One single-silo cluster on its own database, shared by the tests of a class.</summary>
public class ChatClusterFixture : IAsyncLifetime
{
    protected virtual short Silos => 1;
    public string ConnectionString { get; private set; } = "";
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    public async Task InitializeAsync()
    {
        ConnectionString = await TestPostgres.CreateDatabaseAsync();
        Cluster = await ChatCluster.StartAsync(ConnectionString, Silos);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>
/// A cluster with two gateways in front of it and a quick janitor (a gateway silent for 3 s is dead),
/// plus a published database whose owner holds a token.
/// </summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    public const string Database = "quickstart";
    public string ConnectionString { get; private set; } = "";
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public TestGateway A { get; private set; } = null!;
    public TestGateway B { get; private set; } = null!;
    public string OwnerToken { get; private set; } = "";

    public async Task InitializeAsync()
    {
        ConnectionString = await TestPostgres.CreateDatabaseAsync();
        Cluster = await ChatCluster.StartAsync(ConnectionString, serviceId: "gateway-tests", configure: QuickJanitor);
        A = await TestGateway.StartAsync(Cluster.Client);
        B = await TestGateway.StartAsync(Cluster.Client);
        (_, OwnerToken) = await A.CreateIdentityAsync();
        await A.Databases.PublishAsync(new Chat.Api.V1.PublishRequest { Database = Database }, TestGateway.Bearer(OwnerToken));
    }

    private int _databases;

    /// <summary>A new database, published through gateway A by a new identity that owns it.</summary>
    public async Task<(string Database, string OwnerToken, string OwnerIdentity)> NewDatabaseAsync(string prefix, Chat.Api.V1.DatabaseSettings? settings = null)
    {
        var (identity, token) = await A.CreateIdentityAsync();
        var name = $"{prefix}-{Interlocked.Increment(ref _databases)}";
        await A.Databases.PublishAsync(new Chat.Api.V1.PublishRequest { Database = name, Settings = settings }, TestGateway.Bearer(token));
        return (name, token, identity);
    }

    /// <summary>
    /// A gateway silent for 6 s is dead: six of the test gateways' 1 s heartbeats, production's ratio (30 s to 5 s); at 3 s,
    /// heartbeats delayed on a loaded machine can get a live gateway taken for dead in the middle of a test. Module logs
    /// keep 1,000 records per database, pruned every 100, and sum up strangers' suppressed records every second; SQL
    /// returns at most 500 rows.
    /// </summary>
    public static void QuickJanitor(ISiloBuilder silo)
    {
        silo.Services.Configure<ConnectionCleanupOptions>(o =>
        {
            o.GatewayTimeout = TimeSpan.FromSeconds(6);
            o.Interval = TimeSpan.FromSeconds(1);
        });
        silo.Services.Configure<ModuleLogOptions>(o => (o.RetainPerDatabase, o.PruneEvery, o.OthersSummaryInterval) = (1000, 100, TimeSpan.FromSeconds(1)));
        silo.Services.Configure<SqlOptions>(o => o.RowCap = 500);
    }

    public async Task DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}
