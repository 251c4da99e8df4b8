using Grpc.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Frontend.Delivery;

/// <summary>
/// This gateway's live connections: enforces the connection limits, and keeps telling the cluster
/// that the gateway is alive so its connections are not ended for it. Its heartbeat is also the
/// gateway's readiness: no answer from the cluster, not ready.
/// </summary>
public sealed class ConnectionRegistry(IGrainFactory grains, IOptions<GatewayOptions> options, ILogger<ConnectionRegistry> logger)
    : BackgroundService, IHealthCheck
{
    private readonly Dictionary<Identity, int> _perIdentity = [];
    private int _total;
    private DateTime _lastHeartbeat = DateTime.MinValue;
    private string _lastHeartbeatError = "no heartbeat yet";

    public Guid GatewayId { get; } = Guid.NewGuid();
    public int LiveConnections => Volatile.Read(ref _total);

    /// <summary>Reserves a slot for a new connection, or throws RESOURCE_EXHAUSTED saying which limit was hit.</summary>
    public IDisposable Open(Identity identity)
    {
        var limits = options.Value;
        lock (_perIdentity)
        {
            if (_total >= limits.MaxConnections)
            {
                ChatMetrics.Refused("gateway_connections");
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"This gateway holds its maximum of {limits.MaxConnections} connections; try again later or another gateway."));
            }
            var mine = _perIdentity.GetValueOrDefault(identity);
            if (mine >= limits.MaxConnectionsPerIdentity)
            {
                ChatMetrics.Refused("identity_connections");
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"Identity {identity} already has {mine} connections to this gateway (the limit is {limits.MaxConnectionsPerIdentity}); close one first."));
            }
            _perIdentity[identity] = mine + 1;
            _total++;
            ChatMetrics.ConnectionOpened();
        }
        return new Slot(this, identity);
    }

    private void Close(Identity identity)
    {
        lock (_perIdentity)
        {
            if (--_perIdentity[identity] == 0) _perIdentity.Remove(identity);
            _total--;
            ChatMetrics.ConnectionClosed();
        }
    }

    private sealed class Slot(ConnectionRegistry registry, Identity identity) : IDisposable
    {
        private int _disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) registry.Close(identity);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.HeartbeatInterval;
        var registry = grains.GetGrain<IGatewayRegistryGrain>(0);
        logger.GatewayStarted(GatewayId);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await registry.Heartbeat(GatewayId);
                _lastHeartbeat = DateTime.UtcNow;
            }
            catch (Exception e)
            {
                // Never let a failed heartbeat take the host down: readiness reports it, and it is retried.
                if (stoppingToken.IsCancellationRequested) break;
                _lastHeartbeatError = e.GetBaseException().Message;
                logger.HeartbeatFailed(_lastHeartbeatError);
            }
            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await grains.GetGrain<IGatewayRegistryGrain>(0).Leave(GatewayId);
        }
        catch (Exception e)
        {
            logger.DeregisterFailed(GatewayId, e.GetBaseException().Message);
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var age = DateTime.UtcNow - _lastHeartbeat;
        return Task.FromResult(age < options.Value.HeartbeatInterval * 3
            ? HealthCheckResult.Healthy($"cluster answered {age.TotalSeconds:0.0}s ago; {LiveConnections} live connections")
            : HealthCheckResult.Unhealthy($"the Orleans cluster has not answered the gateway's heartbeat: {_lastHeartbeatError}"));
    }
}
