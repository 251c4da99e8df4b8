using System.Diagnostics;
using Chat.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Grains;

public sealed class ConnectionCleanupOptions
{
    /// <summary>A gateway silent for this long, while storage was reachable, is taken for dead and its connections are ended.</summary>
    public TimeSpan GatewayTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often each silo looks for such connections.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Runs on every silo: ends the connections of gateways that died without ending them, through the
/// user grains (so identity_disconnected runs as for any disconnect). Several silos doing it at once is
/// harmless: disconnecting an already-ended connection changes nothing.
/// </summary>
/// <remarks>
/// A gateway is judged only by silence during which storage was reachable: while PostgreSQL is down no gateway can
/// heartbeat, so every gateway's last_seen ages through an outage and, right after it, would look dead before its next
/// heartbeat. So the janitor ends nobody until it has reached storage without a failure for a whole GatewayTimeout,
/// counted from its first pass that succeeds after a failed one (or after the silo started: it cannot know what
/// happened before). Live gateways heartbeat in that time; a gateway that is really gone is ended one GatewayTimeout
/// later than it would have been. The clock is the janitor's own rather than a mark in the database, so a silo that
/// starts during or right after an outage is covered too. An outage shorter than Interval may go unseen, which is safe
/// as long as Interval + the gateways' HeartbeatInterval stays well under GatewayTimeout (5 s + 5 s against 30 s).
/// </remarks>
public sealed class ConnectionJanitor(
    GatewayRegistryStore store, IGrainFactory grains, IOptions<ConnectionCleanupOptions> options, ILogger<ConnectionJanitor> logger) : PeriodicSiloJob(logger)
{
    /// <summary>When the current run of passes that reached storage began; null after a failed pass.</summary>
    private long? _reachableSince;

    protected override TimeSpan Interval => options.Value.Interval;
    protected override string Purpose => "look for connections of dead gateways";

    protected override async Task RunOnceAsync(CancellationToken stoppingToken)
    {
        try
        {
            await SweepAsync(options.Value.GatewayTimeout, stoppingToken);
        }
        catch
        {
            _reachableSince = null;
            throw;
        }
    }

    private async Task SweepAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var orphans = await store.FindOrphanedConnectionsAsync(timeout, limit: 1000);
        if (_reachableSince is null)
        {
            _reachableSince = Stopwatch.GetTimestamp();
            logger.StorageReachable(timeout);
        }
        if (Stopwatch.GetElapsedTime(_reachableSince.Value) < timeout)
            return;
        foreach (var (database, identity, connection) in orphans)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var result = await grains.GetUserGrain(database, identity).IdentityDisconnected(new ReducerCaller(identity, connection));
            logger.EndedOrphanedConnection(connection, identity, database, result);
        }
        await store.ForgetSilentGatewaysAsync(timeout);
    }
}
