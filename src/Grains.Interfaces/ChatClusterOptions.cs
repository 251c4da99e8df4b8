using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Chat;

/// <summary>
/// How quickly the cluster notices a dead silo and how long a grain call may wait for its answer: the <c>Chat:Cluster</c>
/// section, read by silos (membership and messaging) and by the standalone gateway's Orleans client (messaging and its
/// gateway list). Orleans' defaults suit large clusters on slow networks; with them a kill -9'd silo held calls for the
/// 30 s response timeout and its grains for about 20 s (docs/chaos.md has the measurements). These defaults bring both
/// down to a few seconds; they were checked under CPU pressure on two cores without false suspicions.
/// </summary>
public sealed class ChatClusterOptions
{
    public const string Section = "Chat:Cluster";

    /// <summary>Initial liveness probe timeout, also the period between probes (Orleans adapts it between half and four times this). Orleans: 5 s.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Missed probes before a silo suspects another and votes it dead. Orleans: 3.</summary>
    public int NumMissedProbesLimit { get; set; } = 2;

    /// <summary>How often each silo reads the membership table (a backstop to gossip). Orleans: 60 s.</summary>
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a silo writes its heartbeat to the table; stale entries are not offered to clients as gateways. Orleans: 30 s.</summary>
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a death vote counts: votes must be recent to add up. Orleans: 2 min.</summary>
    public TimeSpan DeathVoteExpirationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a grain call waits for its answer (silos, the co-hosted gateway and the standalone gateway's client). A
    /// client's call whose grain was on a silo that died is answered only by this timeout (Orleans breaks such calls at the
    /// death declaration inside silos, not in clients), so it bounds how long a standalone gateway's caller can hang. Our
    /// grains answer well within it or fail by themselves after 5 s (PostgreSQL connection timeout, SQL statement timeout);
    /// a call that runs out of it is UNAVAILABLE, worth a retry with the same idempotency key. Orleans: 30 s.
    /// </summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the standalone gateway's client re-reads the list of silos it can connect through. Orleans: 60 s.</summary>
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(5);
}

public static class ChatClusterConfiguration
{
    /// <summary>
    /// The Orleans client's side: mutual TLS with the cluster's credentials (<see cref="ClusterTls"/>), and response
    /// timeout and gateway list refresh from <c>Chat:Cluster</c>.
    /// </summary>
    public static IClientBuilder UseChatClusterSettings(this IClientBuilder client, ClusterCredentials credentials)
    {
        client.UseClusterTls(credentials);
        client.Services.AddOptions<ChatClusterOptions>().BindConfiguration(ChatClusterOptions.Section);
        client.Services.AddOptions<ClientMessagingOptions>().Configure<IOptions<ChatClusterOptions>>((o, chat) => o.ResponseTimeout = chat.Value.ResponseTimeout);
        client.Services.AddOptions<GatewayOptions>().Configure<IOptions<ChatClusterOptions>>((o, chat) => o.GatewayListRefreshPeriod = chat.Value.GatewayListRefreshPeriod);
        return client;
    }
}
