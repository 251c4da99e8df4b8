using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>
/// Housekeeping every silo runs on a timer (ending dead gateways' connections, forgetting expired idempotency keys and
/// anonymous users). Each pass must be safe to run on several silos at once; a pass that fails is logged and the next
/// tick tries again.
/// </summary>
public abstract class PeriodicSiloJob(ILogger logger) : BackgroundService
{
    protected abstract TimeSpan Interval { get; }

    /// <summary>What a pass does, for the log line when one fails: "look for connections of dead gateways".</summary>
    protected abstract string Purpose { get; }

    protected virtual bool Enabled => true;

    protected abstract Task RunOnceAsync(CancellationToken stoppingToken);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled) return;
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception e)
            {
                if (stoppingToken.IsCancellationRequested) break;
                logger.PeriodicJobFailed(Purpose, e.GetBaseException().Message, Interval);
            }
        }
    }
}
