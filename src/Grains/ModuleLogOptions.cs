namespace Chat.Grains;

/// <summary>The <c>Chat:Logs</c> section.</summary>
public sealed class ModuleLogOptions
{
    /// <summary>Records kept per database; older ones are pruned.</summary>
    public int RetainPerDatabase { get; set; } = 100_000;

    /// <summary>
    /// Prune after this many records have been written by one grain activation. Finding the cut-off walks the
    /// newest <see cref="RetainPerDatabase"/> index entries, so pruning every tenth of the retention keeps that
    /// to about ten entries per record written (the benchmark showed pruning every 1,000 cost 10-15% of throughput).
    /// </summary>
    public int PruneEvery { get; set; } = 10_000;

    /// <summary>
    /// Records that identities other than the owner may cause, per minute and database (failed calls, mostly); past
    /// <see cref="OthersBurst"/> the rest are counted in one summary line per <see cref="OthersSummaryInterval"/>.
    /// At 10 a minute they would need a week to push 100,000 of the owner's records out. 0 turns the budget off.
    /// </summary>
    public double OthersPerMinute { get; set; } = 10;

    public int OthersBurst { get; set; } = 100;

    public TimeSpan OthersSummaryInterval { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>Counts what a grain wrote to the log and prunes in the background now and then, never in the writers' way.</summary>
internal sealed class LogPruner(Chat.Storage.ModuleLogStore store, ModuleLogOptions options, Microsoft.Extensions.Logging.ILogger logger)
{
    private int _sincePrune;
    private Task _pruning = Task.CompletedTask;

    public void Wrote(long databaseId, int records)
    {
        _sincePrune += records;
        if (_sincePrune < options.PruneEvery || !_pruning.IsCompleted) return;
        _sincePrune = 0;
        _pruning = Task.Run(async () =>
        {
            try
            {
                await store.PruneLogAsync(databaseId, options.RetainPerDatabase);
            }
            catch (Exception e)
            {
                logger.ModuleLogPruneFailed(e.GetBaseException().Message);
            }
        });
    }
}
