using Orleans.Concurrency;

namespace Chat;

/// <summary>SpacetimeDB's log levels, in order of severity.</summary>
public enum ModuleLogLevel
{
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Panic = 5,
}

[GenerateSerializer, Immutable]
public sealed record ModuleLogRecord(
    [property: Id(0)] long Id,
    [property: Id(1)] DateTime At,
    [property: Id(2)] ModuleLogLevel Level,
    [property: Id(3)] string? Reducer,
    [property: Id(4)] string Message);

/// <summary>A gateway with followers of a database's module log: told when records were committed, to read them once for all.</summary>
public interface ILogObserver : IGrainObserver
{
    [OneWay]
    Task OnAppended(string database);
}

/// <summary>One database's module log, keyed by its name: durable in PostgreSQL, written in groups.</summary>
public interface IModuleLogGrain : IGrainWithStringKey
{
    /// <summary>Records were committed by another writer (the message log, the database grain): followers are told.</summary>
    [OneWay]
    Task Appended();

    /// <summary>Tells <paramref name="observer"/> of committed records for a minute; call again well within it to keep it.</summary>
    Task Follow(ILogObserver observer);

    Task Unfollow(ILogObserver observer);

    /// <summary>
    /// Appends a record; written with the next group. Records for a database that does not exist are dropped. Control
    /// characters are stored escaped and long texts cut (<see cref="LogText"/>). <paramref name="causedBy"/> is the
    /// identity whose call led to the record: records caused by others than the owner draw from a budget, so that
    /// strangers cannot flush the owner's history (Chat:Logs:OthersPerMinute).
    /// </summary>
    [OneWay]
    Task Write(ModuleLogLevel level, string? reducer, string message, Identity? causedBy = null);

    /// <summary>
    /// Where reading must start (an id to pass to <see cref="ReadAfter"/>) to get the newest <paramref name="count"/>
    /// records at or above <paramref name="minimum"/>; 0 (everything) when <paramref name="count"/> is 0 or exceeds what is there.
    /// </summary>
    Task<long> StartOfNewest(int count, ModuleLogLevel minimum);

    /// <summary>Records after <paramref name="afterId"/>, oldest first, at most <paramref name="limit"/>: how a follower keeps up.</summary>
    Task<IReadOnlyList<ModuleLogRecord>> ReadAfter(long afterId, ModuleLogLevel minimum, int limit);
}
