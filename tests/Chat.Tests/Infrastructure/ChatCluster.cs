using Chat.Grains;
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
    public static async Task<InProcessTestCluster> StartAsync(string connectionString, short silos = 1, string serviceId = "chat-tests", string? clusterId = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ServiceId = serviceId;
        if (clusterId is not null) builder.Options.ClusterId = clusterId;
        UseRealMembership(builder.Options);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseChatClustering(connectionString);
            silo.AddChat(connectionString);
        });
        builder.ConfigureClient(client => client.UseAdoNetClustering(o =>
        {
            o.Invariant = ChatSiloConfiguration.AdoNetInvariant;
            o.ConnectionString = connectionString;
        }));
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

public sealed class TwoSiloChatClusterFixture : ChatClusterFixture
{
    protected override short Silos => 2;
}
