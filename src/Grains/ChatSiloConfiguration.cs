using Chat.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Storage;

namespace Chat.Grains;

/// <summary>Everything a silo needs to host the chat module; shared by the silo host, the tests and the benchmark.</summary>
public static class ChatSiloConfiguration
{
    /// <summary>
    /// The Orleans grain storage (ADO.NET, PostgreSQL) that held database settings before migration 0011; kept so that a
    /// database grain can move them to its catalog row.
    /// </summary>
    public const string GrainStorage = "chat";

    /// <summary>PostgreSQL's application_name of the silos' own sessions, unless the connection string names one.</summary>
    public const string SiloApplicationName = "chat-silo";

    /// <summary>The ADO.NET invariant the Orleans providers use for PostgreSQL.</summary>
    public const string AdoNetInvariant = "Npgsql";

    /// <summary>Grains, their PostgreSQL store and the Orleans grain storage. Clustering is configured separately.</summary>
    public static ISiloBuilder AddChat(this ISiloBuilder silo, string connectionString)
    {
        // Auto-prepared statements: the same few statements run thousands of times a second. A message group waits in an
        // open transaction for the group before it to commit (milliseconds); if its silo hangs or dies there, the server
        // ends the transaction after two seconds, so its row locks (on the offsets it took) do not hold up the log's next
        // activation for long. The cost: a group stalled that long fails as Unavailable and is sent again.
        var prepared = new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxAutoPrepare = 32,
            AutoPrepareMinUsages = 2,
            Options = AppendOption(new NpgsqlConnectionStringBuilder(connectionString).Options, "-c idle_in_transaction_session_timeout=2000"),
        };
        silo.Services.AddOptions<PostgresWarmUpOptions>().BindConfiguration("Chat:Storage");
        silo.Services.AddSingleton(sp =>
        {
            // The warmed connections stay in the pool (Npgsql closes idle ones above the minimum after 5 minutes).
            var warm = sp.GetRequiredService<IOptions<PostgresWarmUpOptions>>().Value.WarmConnections;
            var pooled = new NpgsqlConnectionStringBuilder(prepared.ConnectionString);
            if (pooled.MinPoolSize == 0) pooled.MinPoolSize = Math.Clamp(warm, 0, pooled.MaxPoolSize);
            pooled.ApplicationName ??= SiloApplicationName; // tells an operator's pg_stat_activity whose sessions these are
            return NpgsqlDataSource.Create(pooled.ConnectionString);
        });
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, PostgresWarmUp>();
        silo.Services.AddSingleton<DatabaseCatalogStore>();
        silo.Services.AddSingleton<UserStore>();
        silo.Services.AddSingleton<ReducerCallStore>();
        silo.Services.AddSingleton<MessageStore>();
        silo.Services.AddSingleton<ModuleLogStore>();
        silo.Services.AddSingleton<GatewayRegistryStore>();
        silo.Services.AddSingleton<DatabaseDescriptorCache>();
        silo.Services.AddOptions<ConnectionCleanupOptions>().BindConfiguration("Chat:Connections");
        silo.Services.AddHostedService<ConnectionJanitor>();
        silo.Services.AddOptions<IdempotencyOptions>().BindConfiguration("Chat:Idempotency");
        silo.Services.AddHostedService<IdempotencyKeyPruner>();
        silo.Services.AddOptions<UserExpiryOptions>().BindConfiguration("Chat:Users");
        silo.Services.AddSingleton<UserExpiry>();
        silo.Services.AddHostedService(sp => sp.GetRequiredService<UserExpiry>());
        silo.Services.AddSingleton<NameKeyUpgrade>();
        silo.Services.AddHostedService(sp => sp.GetRequiredService<NameKeyUpgrade>());
        silo.Services.AddOptions<ModuleLogOptions>().BindConfiguration("Chat:Logs");
        silo.Services.AddOptions<SqlOptions>().BindConfiguration("Chat:Sql");
        silo.AddAdoNetGrainStorage(GrainStorage, options =>
        {
            options.Invariant = AdoNetInvariant;
            options.ConnectionString = connectionString;
        });
        // Orleans' own serializer, not the default JSON one: JSON drops values equal to the CLR default, so a setting
        // stored as 0 or false came back as its initializer (a rate limit turned off came back on after a restart).
        silo.Services.AddOptions<AdoNetGrainStorageOptions>(GrainStorage)
            .Configure<Orleans.Serialization.Serializer>((options, serializer) => options.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer));
        return silo;
    }

    private static string AppendOption(string? options, string option) => string.IsNullOrWhiteSpace(options) ? option : $"{options} {option}";

    /// <summary>
    /// Cluster membership in the same PostgreSQL server, through the Orleans ADO.NET clustering provider, with failure
    /// detection and response timeouts from <c>Chat:Cluster</c> (<see cref="ChatClusterOptions"/>), and mutual TLS with
    /// the cluster's credentials on every connection (<see cref="ClusterTls"/>): the membership table tells anyone with
    /// the connection string where the silos are, so the silos let in only holders of the cluster certificate.
    /// </summary>
    public static ISiloBuilder UseChatClustering(this ISiloBuilder silo, string connectionString, ClusterCredentials credentials)
    {
        silo.UseClusterTls(credentials);
        silo.UseAdoNetClustering(options =>
        {
            options.Invariant = AdoNetInvariant;
            options.ConnectionString = connectionString;
        });
        silo.Services.AddOptions<ChatClusterOptions>().BindConfiguration(ChatClusterOptions.Section);
        silo.Services.AddOptions<ClusterMembershipOptions>().Configure<IOptions<ChatClusterOptions>>((o, chat) =>
        {
            o.ProbeTimeout = chat.Value.ProbeTimeout;
            o.NumMissedProbesLimit = chat.Value.NumMissedProbesLimit;
            o.TableRefreshTimeout = chat.Value.TableRefreshTimeout;
            o.IAmAliveTablePublishTimeout = chat.Value.IAmAliveTablePublishTimeout;
            o.DeathVoteExpirationTimeout = chat.Value.DeathVoteExpirationTimeout;
        });
        // Calls between silos and from the co-hosted gateway's in-silo client.
        silo.Services.AddOptions<SiloMessagingOptions>().Configure<IOptions<ChatClusterOptions>>((o, chat) => o.ResponseTimeout = chat.Value.ResponseTimeout);
        return silo;
    }
}
