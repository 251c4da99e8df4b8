using Microsoft.Extensions.Logging;
using Orleans.Utilities;

namespace Chat.Grains;

/// <summary>
/// Fans each database's committed changes out to the gateways that have subscribers for it: once per gateway,
/// not once per client. Numbering batches per epoch makes loss and reordering visible to gateways, which then
/// repair from PostgreSQL (the source of truth) instead of trusting the feed blindly.
/// </summary>
public sealed class ChangeFeedGrain(ILogger<ChangeFeedGrain> logger) : Grain, IChangeFeedGrain
{
    /// <summary>Gateways renew well within this; one that stops renewing (it died) is forgotten.</summary>
    public static readonly TimeSpan ObserverExpiry = TimeSpan.FromSeconds(60);

    private readonly ObserverManager<IChangeObserver> _observers = new(ObserverExpiry, logger);
    private readonly Guid _epoch = Guid.NewGuid();
    private long _nextSequence = 1;

    private string Database => this.GetPrimaryKeyString();

    public Task Publish(long databaseId, IReadOnlyList<ChangeEvent> events)
    {
        if (events.Count == 0) return Task.CompletedTask;
        var batch = new ChangeBatch(databaseId, _epoch, _nextSequence, events);
        _nextSequence += events.Count;
        if (_observers.Count > 0)
            _observers.Notify(o => o.OnChanges(Database, batch));
        return Task.CompletedTask;
    }

    public Task<FeedPosition> Subscribe(IChangeObserver observer)
    {
        _observers.Subscribe(observer, observer);
        return Task.FromResult(new FeedPosition(_epoch, _nextSequence));
    }

    public Task Unsubscribe(IChangeObserver observer)
    {
        _observers.Unsubscribe(observer);
        return Task.CompletedTask;
    }
}
