using Orleans.Concurrency;

namespace Chat;

/// <summary>What a database is: its catalog id (new on every publish after a delete), owner and settings.</summary>
[GenerateSerializer, Immutable]
public sealed record DatabaseDescriptor(
    [property: Id(0)] string Name,
    [property: Id(1)] long Id,
    [property: Id(2)] Identity Owner,
    [property: Id(3)] DateTime CreatedAt,
    [property: Id(4)] ModuleSettings Settings);

[GenerateSerializer, Immutable]
public sealed record PublishResult(
    [property: Id(0)] ReducerResult Result,
    [property: Id(1)] DatabaseDescriptor? Database,
    [property: Id(2)] bool Created);

/// <summary>One published database (instance of the chat module), keyed by its name. Holds metadata and settings.</summary>
public interface IDatabaseGrain : IGrainWithStringKey
{
    /// <summary>
    /// Creates the database with <paramref name="caller"/> as owner; publishing again is a no-op for the owner. <paramref name="clear"/>
    /// deletes all rows first. <paramref name="settings"/> changes only the settings it names: the others keep their
    /// current values (a new database's are the defaults), also across a clear.
    /// </summary>
    Task<PublishResult> Publish(Identity caller, bool clear = false, SettingsChange? settings = null);

    /// <summary>Deletes the database and all its rows. Owner only.</summary>
    Task<ReducerResult> Delete(Identity caller);

    /// <summary>Replaces the validation settings. Owner only.</summary>
    Task<ReducerResult> UpdateSettings(Identity caller, ModuleSettings settings);

    /// <summary>The database, or null when it does not exist.</summary>
    [ReadOnly]
    Task<DatabaseDescriptor?> Describe();

    /// <summary>
    /// <see cref="Describe"/>, and tells <paramref name="watcher"/> of every change this activation makes from now on, before
    /// answering the call that made it. A silo's descriptor cache asks this way.
    /// </summary>
    Task<DatabaseDescriptor?> Watch(IDatabaseWatcher watcher);
}

/// <summary>Told by a database grain when its database was published, changed or deleted (null).</summary>
public interface IDatabaseWatcher : IGrainObserver
{
    Task Changed(string name, DatabaseDescriptor? database);
}

/// <summary>Lists the published databases (a read of the catalog table, from any silo).</summary>
public interface IDatabaseCatalogGrain : IGrainWithIntegerKey
{
    Task<IReadOnlyList<DatabaseSummary>> List();
}

[GenerateSerializer, Immutable]
public sealed record DatabaseSummary(
    [property: Id(0)] string Name,
    [property: Id(1)] Identity Owner,
    [property: Id(2)] DateTime CreatedAt);
