using Orleans.Concurrency;

namespace Chat;

/// <summary>
/// One committed reducer call's effect on the tables: a user row changed (<see cref="OldUser"/> null for an
/// insert) or a message inserted. An update is shown to subscribers as a delete of the old row and an insert
/// of the new one, as SpacetimeDB does.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ChangeEvent(
    [property: Id(0)] string Reducer,
    [property: Id(1)] ReducerCaller Caller,
    [property: Id(2)] DateTime Timestamp,
    [property: Id(3)] UserRow? OldUser,
    [property: Id(4)] UserRow? NewUser,
    [property: Id(5)] long UserVersion,
    [property: Id(6)] MessageRow? Message);

/// <summary>
/// Events as the feed delivers them: numbered within an epoch (one activation of the feed grain), so that a
/// receiver sees a lost or reordered batch as a gap, and a new epoch as "start over from a snapshot".
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ChangeBatch(
    [property: Id(0)] long DatabaseId,
    [property: Id(1)] Guid Epoch,
    [property: Id(2)] long FirstSequence,
    [property: Id(3)] IReadOnlyList<ChangeEvent> Events);

[GenerateSerializer, Immutable]
public sealed record FeedPosition(
    [property: Id(0)] Guid Epoch,
    [property: Id(1)] long NextSequence);

/// <summary>A gateway's receiver of one or more databases' change feeds.</summary>
public interface IChangeObserver : IGrainObserver
{
    [OneWay]
    Task OnChanges(string database, ChangeBatch batch);
}

/// <summary>
/// The change feed of one database: every committed change is published here once, by the grain that wrote it,
/// and sent once to each subscribed gateway, which filters it for its own clients.
/// </summary>
public interface IChangeFeedGrain : IGrainWithStringKey
{
    /// <summary>Called by the writing grain after its commit, in commit order, with the database's catalog id.</summary>
    Task Publish(long databaseId, IReadOnlyList<ChangeEvent> events);

    /// <summary>Subscribes (or renews) a gateway's observer; it expires unless renewed. Returns where the feed stands.</summary>
    Task<FeedPosition> Subscribe(IChangeObserver observer);

    Task Unsubscribe(IChangeObserver observer);
}
