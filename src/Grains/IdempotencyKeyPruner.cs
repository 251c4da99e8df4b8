using Chat.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Grains;

public sealed class IdempotencyOptions
{
    /// <summary>How long a committed call's idempotency key is remembered; a retry later than this runs the call again.</summary>
    public TimeSpan Retention { get; set; } = IdempotencyKey.DefaultRetention;

    /// <summary>How often each silo forgets keys past the retention window.</summary>
    public TimeSpan PruneInterval { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Runs on every silo: deletes idempotency records older than the retention window, in bounded batches so that no
/// statement holds locks for long. Several silos doing it at once is harmless.
/// </summary>
public sealed class IdempotencyKeyPruner(ChatStore store, IOptions<IdempotencyOptions> options, ILogger<IdempotencyKeyPruner> logger) : BackgroundService
{
    private const int Batch = 10_000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.Retention <= TimeSpan.Zero)
            throw new InvalidOperationException($"Chat:Idempotency:Retention must be positive, not {settings.Retention}.");
        using var timer = new PeriodicTimer(settings.PruneInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                int pruned;
                do pruned = await store.PruneReducerCallsAsync(settings.Retention, Batch);
                while (pruned == Batch && !stoppingToken.IsCancellationRequested);
            }
            catch (Exception e)
            {
                if (stoppingToken.IsCancellationRequested) break;
                logger.LogWarning("Could not forget expired idempotency keys ({Reason}); will try again in {Interval}",
                    e.GetBaseException().Message, settings.PruneInterval);
            }
        }
    }
}
