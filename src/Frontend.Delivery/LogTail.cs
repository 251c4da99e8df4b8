using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend.Delivery;

/// <summary>One <c>Logs --follow</c> stream: the records it still has to write, bounded, and where it has got to.</summary>
public sealed class LogFollower(ModuleLogLevel minimum, long last, int capacity)
{
    private readonly Channel<ModuleLogRecord> _records = Channel.CreateBounded<ModuleLogRecord>(new BoundedChannelOptions(capacity) { SingleReader = true });

    /// <summary>The highest record id this follower has been offered; only its tail's work queue moves it.</summary>
    internal long Last { get; private set; } = last;

    public ChannelReader<ModuleLogRecord> Records => _records.Reader;

    /// <summary>Why the gateway ended the stream (it could not keep up); null while it runs.</summary>
    public string? EndedBecause { get; private set; }

    internal void Offer(ModuleLogRecord record)
    {
        if (record.Id <= Last || EndedBecause is not null) return;
        Last = record.Id;
        if (record.Level < minimum || _records.Writer.TryWrite(record)) return;
        End($"Stopped following: this client could not keep up ({capacity} log records were waiting for it). Follow again from the last record you have.");
    }

    internal void End(string reason)
    {
        EndedBecause ??= reason;
        _records.Writer.TryComplete();
    }
}

/// <summary>
/// This gateway's reader of one database's module log, for all its followers here: told by the log grain when records
/// were committed, it reads them once and hands each follower what it asked for. So a follower costs a queue, not a
/// poll of PostgreSQL. Renewing the subscription reads too, which bounds how late a lost notification can make a record.
/// Everything runs one at a time on its work queue, so a joining follower and the records read meanwhile meet exactly.
/// </summary>
public sealed class LogTail : ILogObserver
{
    private const int Page = 1000;

    private readonly string _database;
    private readonly IGrainFactory _grains;
    private readonly ILogger _logger;
    private readonly Channel<Func<Task>> _work = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<LogFollower> _followers = [];
    // A task rather than a CancellationTokenSource: the tail ends itself and has no owner to dispose one.
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ILogObserver _reference;
    private long? _last;
    private int _readQueued;

    public LogTail(string database, IGrainFactory grains, TimeSpan renewEvery, ILogger logger)
    {
        (_database, _grains, _logger) = (database, grains, logger);
        // An observer of its own, so that a tail leaving the log grain never unsubscribes the one replacing it.
        _reference = grains.CreateObjectReference<ILogObserver>(this);
        _ = Task.Run(RunAsync);
        _ = Task.Run(() => RenewAsync(renewEvery));
        Enqueue(Follow);
    }

    private IModuleLogGrain Log => _grains.GetModuleLogGrain(_database);

    public void Join(LogFollower follower) => Enqueue(async () =>
    {
        if (_last is not { } last)
            _last = follower.Last;
        else
            // Records it has not seen and the others have: read for it alone, up to where the others are.
            for (var after = follower.Last; after < last;)
            {
                var page = await Log.ReadAfter(after, ModuleLogLevel.Trace, Page);
                foreach (var record in page.TakeWhile(r => r.Id <= last)) follower.Offer(record);
                if (page.Count < Page) break;
                after = page[^1].Id;
            }
        _followers.Add(follower);
        // Records committed before this tail followed the log were never announced to it.
        await ReadNew();
    });

    public void Leave(LogFollower follower) => Enqueue(() =>
    {
        _followers.Remove(follower);
        return Task.CompletedTask;
    });

    /// <summary>The hub's, once no follower is left: leaves the log grain.</summary>
    internal void Stop() => Enqueue(async () =>
    {
        _stopped.TrySetResult();
        _work.Writer.TryComplete();
        foreach (var follower in _followers) follower.End("The gateway stopped following this log; follow again.");
        try { await Log.Unfollow(_reference); }
        catch (Exception e) { _logger.UnfollowFailed(_database, e.Message); }
        _grains.DeleteObjectReference<ILogObserver>(_reference);
    });

    public Task OnAppended(string database)
    {
        // One read queued at a time is enough: it reads everything committed before it starts.
        if (Interlocked.Exchange(ref _readQueued, 1) == 0) Enqueue(ReadNew);
        return Task.CompletedTask;
    }

    private async Task ReadNew()
    {
        Volatile.Write(ref _readQueued, 0);
        if (_last is not { } last || _followers.Count == 0) return;
        while (true)
        {
            var page = await Log.ReadAfter(last, ModuleLogLevel.Trace, Page);
            foreach (var record in page)
                foreach (var follower in _followers)
                    follower.Offer(record);
            if (page.Count > 0) _last = last = page[^1].Id;
            _followers.RemoveAll(f => f.EndedBecause is not null);
            if (page.Count < Page) return;
        }
    }

    private Task Follow() => Log.Follow(_reference);

    private void Enqueue(Func<Task> work) => _work.Writer.TryWrite(work);

    private async Task RunAsync()
    {
        await foreach (var work in _work.Reader.ReadAllAsync())
        {
            try
            {
                await work();
            }
            catch (Exception e)
            {
                // The next notification or renewal reads again from where the tail is: nothing is skipped.
                _logger.FollowingLogFailed(_database, e.GetBaseException().Message);
            }
        }
    }

    private async Task RenewAsync(TimeSpan every)
    {
        using var timer = new PeriodicTimer(every);
        // A stop ends the wait at once; the tick still pending then ends with the timer.
        while (await Task.WhenAny(timer.WaitForNextTickAsync().AsTask(), _stopped.Task) != _stopped.Task)
        {
            Enqueue(Follow);
            Enqueue(ReadNew);
        }
    }
}
