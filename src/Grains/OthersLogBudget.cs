namespace Chat.Grains;

/// <summary>
/// How many module log records identities other than the database's owner may cause: a token bucket per database
/// (<see cref="ModuleLogOptions.OthersPerMinute"/>, <see cref="ModuleLogOptions.OthersBurst"/>). Past it their records
/// are counted, not written, and summed up in one line. Pure: the caller supplies the time.
/// </summary>
/// <remarks>
/// Anyone may call any database's reducers, and every failed call leaves a record; unlimited, a stranger could push the
/// owner's history out of the retained window in minutes. A budget keeps the first of a burst (what the owner needs to
/// see that something is going on, and what by whom) and the count of the rest.
/// </remarks>
public sealed class OthersLogQuota(double perMinute, int burst)
{
    private TokenBucket _bucket;
    private long _suppressed;
    private DateTime _since;

    public long Suppressed => _suppressed;

    /// <summary>Whether a record caused by someone else than the owner at <paramref name="now"/> may be written.</summary>
    public bool Admit(DateTime now)
    {
        if (perMinute <= 0 || _bucket.TryTake(now, perMinute / 60, burst)) return true;
        if (_suppressed++ == 0) _since = now;
        return false;
    }

    /// <summary>The line that stands for the records not written since the last one, or null when there were none.</summary>
    public string? TakeSummary(DateTime now)
    {
        if (_suppressed == 0) return null;
        var summary = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{_suppressed} more failed call{(_suppressed == 1 ? "" : "s")} by identities other than the owner suppressed " +
                      $"between {_since:yyyy-MM-ddTHH:mm:ss}Z and {now:yyyy-MM-ddTHH:mm:ss}Z (the log takes at most {perMinute:0.##} a minute " +
                      $"from them, in bursts of {burst}: Chat:Logs:OthersPerMinute, OthersBurst)");
        _suppressed = 0;
        return summary;
    }
}

/// <summary>A module log grain's <see cref="OthersLogQuota"/>, with the timer that writes its summary once per interval.</summary>
internal sealed class OthersLogBudget(Grain grain, ModuleLogOptions options, Action<string> writeSummary)
{
    private readonly OthersLogQuota _quota = new(options.OthersPerMinute, options.OthersBurst);
    private IGrainTimer? _timer;

    /// <summary>The records of <paramref name="group"/> that may be written: the owner's and the system's all, others' within the budget.</summary>
    public List<T> Admit<T>(List<T> group, Func<T, Identity?> causedBy, Func<T, DateTime> at, Identity owner)
    {
        var admitted = group.FindAll(e => causedBy(e) is not { } who || who == owner || _quota.Admit(at(e)));
        if (_quota.Suppressed > 0 && _timer is null)
            _timer = grain.RegisterGrainTimer(() =>
            {
                _timer?.Dispose();
                _timer = null;
                Flush();
                return Task.CompletedTask;
            }, new GrainTimerCreationOptions(options.OthersSummaryInterval, Timeout.InfiniteTimeSpan) { KeepAlive = true });
        return admitted;
    }

    /// <summary>Writes the summary now, if anything was suppressed (the interval ended, or the grain is going).</summary>
    public void Flush()
    {
        if (_quota.TakeSummary(DateTime.UtcNow) is { } summary) writeSummary(summary);
    }
}
