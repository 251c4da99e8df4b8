using Chat.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Grains;

public sealed class ConnectionCleanupOptions
{
    /// <summary>A gateway silent for this long is taken for dead and its connections are ended.</summary>
    public TimeSpan GatewayTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often each silo looks for such connections.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Runs on every silo: ends the connections of gateways that died without ending them, through the
/// user grains (so identity_disconnected runs as for any disconnect). Several silos doing it at once is
/// harmless: disconnecting an already-ended connection changes nothing.
/// </summary>
public sealed class ConnectionJanitor(
    ChatStore store, IGrainFactory grains, IOptions<ConnectionCleanupOptions> options, ILogger<ConnectionJanitor> logger) : PeriodicSiloJob(logger)
{
    protected override TimeSpan Interval => options.Value.Interval;
    protected override string Purpose => "look for connections of dead gateways";
    protected override Task RunOnceAsync(CancellationToken stoppingToken) => SweepAsync(options.Value.GatewayTimeout, stoppingToken);

    private async Task SweepAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var orphans = await store.FindOrphanedConnectionsAsync(timeout, limit: 1000);
        foreach (var (database, identity, connection) in orphans)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var result = await grains.GetUserGrain(database, identity).IdentityDisconnected(new ReducerCaller(identity, connection));
            logger.LogInformation("Ended connection {ConnectionId} of {Identity} in {Database}: its gateway stopped responding ({Result})",
                connection, identity, database, result);
        }
        await store.ForgetSilentGatewaysAsync(timeout);
    }
}
