using Chat.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Utilities;

namespace Chat.Grains;

/// <summary>
/// One database's module log: warnings and failed reducer calls from any grain or gateway, committed in
/// groups. (send_message's info lines are written by the message log, in the same transaction as the messages.)
/// </summary>
[Reentrant]
public sealed class ModuleLogGrain : Grain, IModuleLogGrain
{
    private sealed record Entry(DateTime At, ModuleLogLevel Level, string? Reducer, string Message, Identity? CausedBy = null);

    private readonly ModuleLogStore _store;
    private readonly DatabaseDescriptorCache _descriptors;
    private readonly ILogger<ModuleLogGrain> _logger;
    private readonly GroupCommitLoop<Entry> _writes;
    private readonly LogPruner _pruner;
    private readonly OthersLogBudget _others;
    // Gateways with followers, told after each commit; they read the new records once each, whatever their follower count.
    private readonly ObserverManager<ILogObserver> _followers;

    /// <summary>Gateways renew well within this; one that stops renewing (it died, or its followers left) is forgotten.</summary>
    public static readonly TimeSpan FollowerExpiry = TimeSpan.FromSeconds(60);

    public ModuleLogGrain(ModuleLogStore store, DatabaseDescriptorCache descriptors, IOptions<ModuleLogOptions> options, ILogger<ModuleLogGrain> logger)
    {
        (_store, _descriptors, _logger) = (store, descriptors, logger);
        _writes = new GroupCommitLoop<Entry>(Commit);
        _pruner = new LogPruner(store, options.Value, logger);
        _followers = new ObserverManager<ILogObserver>(FollowerExpiry, logger);
        _others = new OthersLogBudget(this, options.Value, summary => _writes.Add(new Entry(Now(), ModuleLogLevel.Warn, null, summary)));
    }

    public Task Appended()
    {
        Notify();
        return Task.CompletedTask;
    }

    public Task Follow(ILogObserver observer)
    {
        _followers.Subscribe(observer, observer);
        return Task.CompletedTask;
    }

    public Task Unfollow(ILogObserver observer)
    {
        _followers.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    private void Notify()
    {
        if (_followers.Count > 0) _followers.Notify(o => o.OnAppended(Database));
    }

    private static DateTime Now() => ChatReducers.TruncateToMicroseconds(DateTime.UtcNow);

    private string Database => this.GetPrimaryKeyString();

    public Task Write(ModuleLogLevel level, string? reducer, string message, Identity? causedBy = null)
    {
        _writes.Add(new Entry(Now(), level, reducer is null ? null : LogText.ReducerName(reducer), LogText.Line(message), causedBy));
        return Task.CompletedTask;
    }

    public async Task<long> StartOfNewest(int count, ModuleLogLevel minimum)
    {
        await _writes.Drained; // read your own writes
        return count > 0 && await _descriptors.Get(Database) is { } database
            ? await _store.LogIdBeforeNewestAsync(database.Id, count, minimum)
            : 0;
    }

    public async Task<IReadOnlyList<ModuleLogRecord>> ReadAfter(long afterId, ModuleLogLevel minimum, int limit)
    {
        await _writes.Drained;
        return await _descriptors.Get(Database) is { } database
            ? await _store.ReadLogAfterAsync(database.Id, afterId, minimum, Math.Clamp(limit, 1, 10_000))
            : [];
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _others.Flush();
        return _writes.Drained;
    }

    private async Task Commit(List<Entry> group)
    {
        try
        {
            if (await _descriptors.Get(Database) is not { } database)
                return;
            group = _others.Admit(group, e => e.CausedBy, e => e.At, database.Owner);
            if (group.Count == 0) return;
            await _store.AppendLogAsync(database.Id, group.Select(e => (e.At, e.Level, e.Reducer, e.Message)).ToList());
            Notify();
            _pruner.Wrote(database.Id, group.Count);
        }
        catch (Exception e)
        {
            // The module log is not worth failing anyone's call over; the silo's own log keeps the lines.
            if (_logger.IsEnabled(LogLevel.Warning))
                _logger.ModuleLogRecordsLost(group.Count, Database, e.GetBaseException().Message, string.Join(" | ", group.Select(g => $"{g.Level} {g.Reducer}: {g.Message}")));
        }
    }
}
