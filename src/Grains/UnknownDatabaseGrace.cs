namespace Chat.Grains;

/// <summary>
/// Lets an activation for a name that names no database go soon, instead of after Orleans' idle collection age: anyone
/// can call any name, so what those calls leave in memory must not outlast them for long. Not at once, though: a grain
/// that deactivates while calls are queued for it has them forwarded, and a name asked about again and again (a deleted
/// database that clients keep sending to) would bounce them until Orleans rejects them instead of answering NOT_FOUND.
/// </summary>
internal sealed class UnknownDatabaseGrace(Grain grain, Func<bool> stillUnknown)
{
    public static readonly TimeSpan Delay = TimeSpan.FromSeconds(10);

    private IGrainTimer? _timer;

    /// <summary>Called when a call found no database: in <see cref="Delay"/>, the grain goes if there is still none.</summary>
    public void Unknown()
    {
        if (_timer is not null) return;
        _timer = grain.RegisterGrainTimer(() =>
        {
            _timer?.Dispose();
            _timer = null;
            if (stillUnknown()) grain.DeactivateOnIdle();
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions(Delay, Timeout.InfiniteTimeSpan) { KeepAlive = false });
    }
}
