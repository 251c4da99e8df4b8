using Chat.Storage;
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
public sealed class IdempotencyKeyPruner(ReducerCallStore store, IOptions<IdempotencyOptions> options, ILogger<IdempotencyKeyPruner> logger) : PeriodicSiloJob(logger)
{
    private const int Batch = 10_000;

    protected override TimeSpan Interval => options.Value.PruneInterval;
    protected override string Purpose => "forget expired idempotency keys";

    protected override async Task RunOnceAsync(CancellationToken stoppingToken)
    {
        var retention = options.Value.Retention;
        if (retention <= TimeSpan.Zero)
            throw new InvalidOperationException($"Chat:Idempotency:Retention must be positive, not {retention}; no key is forgotten.");
        int pruned;
        do pruned = await store.PruneReducerCallsAsync(retention, Batch);
        while (pruned == Batch && !stoppingToken.IsCancellationRequested);
    }
}
