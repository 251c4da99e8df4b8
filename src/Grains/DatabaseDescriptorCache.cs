using System.Collections.Concurrent;
using System.Diagnostics;

namespace Chat.Grains;

/// <summary>
/// The one place a grain gets a database's descriptor from: one per silo, shared by every grain on it, so a call whose
/// database was described within <see cref="MaxAge"/> costs no hop to the database grain. The rule: an entry is used for
/// <see cref="MaxAge"/> from when it was asked for; a change is pushed by the database grain (see
/// <see cref="IDatabaseGrain.Watch"/>) to every silo that asked, and the change's caller is answered only once every push
/// landed or <see cref="MaxAge"/> passed, by which time any entry from before the change has expired. So a publish, a
/// settings change or a delete applies to every call made after it was answered.
/// </summary>
/// <remarks>Thread-safe: grains on different threads share it.</remarks>
public sealed class DatabaseDescriptorCache : IDatabaseWatcher
{
    private readonly IGrainFactory _grains;

    /// <summary>
    /// This cache as the database grains see it. Made off any grain's scheduler, as Orleans makes a silo's observer
    /// references only from outside grains; once per silo.
    /// </summary>
    private readonly Lazy<Task<IDatabaseWatcher>> _reference;

    public DatabaseDescriptorCache(IGrainFactory grains)
    {
        _grains = grains;
        _reference = new(() => Task.Run(() => _grains.CreateObjectReference<IDatabaseWatcher>(this)));
    }

    /// <summary>How long a descriptor is used without asking again; also how long a pushed change may take to land.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);

    /// <summary>Names held at most: anyone can call any name, and what those calls leave here must be bounded.</summary>
    public const int Capacity = 10_000;

    /// <param name="Stamp">Orders pushes against fetches: a fetch that started before a push does not overwrite it.</param>
    private sealed record Entry(DatabaseDescriptor? Descriptor, long Since, long Stamp);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _stamp;

    /// <summary>The database named <paramref name="name"/>, or null when there is none; from memory while fresh.</summary>
    public ValueTask<DatabaseDescriptor?> Get(string name) =>
        _entries.TryGetValue(name, out var entry) && Stopwatch.GetElapsedTime(entry.Since) < MaxAge
            ? ValueTask.FromResult(entry.Descriptor)
            : new ValueTask<DatabaseDescriptor?>(Fetch(name));

    /// <summary>Drops what is held for <paramref name="name"/>: a write found the database other than described.</summary>
    public void Forget(string name) => _entries.TryRemove(name, out _);

    /// <summary>Names held now (fresh or not).</summary>
    public int Count => _entries.Count;

    private async Task<DatabaseDescriptor?> Fetch(string name)
    {
        // Both taken before asking: the entry expires counting from here, and a push from here on wins over this answer.
        var since = Stopwatch.GetTimestamp();
        var stamp = Interlocked.Read(ref _stamp);
        var descriptor = await _grains.GetDatabaseGrain(name).Watch(await _reference.Value);
        return Store(name, new Entry(descriptor, since, stamp)).Descriptor;
    }

    Task IDatabaseWatcher.Changed(string name, DatabaseDescriptor? database)
    {
        Store(name, new Entry(database, Stopwatch.GetTimestamp(), Interlocked.Increment(ref _stamp)));
        return Task.CompletedTask;
    }

    private Entry Store(string name, Entry entry)
    {
        if (!_entries.ContainsKey(name) && _entries.Count >= Capacity)
        {
            SweepExpired();
            if (_entries.Count >= Capacity)
                return entry; // used for this call only
        }
        return _entries.AddOrUpdate(name, entry, (_, held) => held.Stamp > entry.Stamp ? held : entry);
    }

    private void SweepExpired()
    {
        foreach (var (name, entry) in _entries)
            if (Stopwatch.GetElapsedTime(entry.Since) >= MaxAge)
                _entries.TryRemove(new KeyValuePair<string, Entry>(name, entry));
    }
}
