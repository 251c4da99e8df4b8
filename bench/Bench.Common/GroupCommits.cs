using System.Diagnostics.Metrics;

namespace Chat.Benchmarks;

/// <summary>
/// What the message log reported about its group commits during one measurement (meter <c>Chat</c>, in this process,
/// where the stack runs): how many messages shared a commit and how long a group took from its start to its commit.
/// This is what bounds a closed loop: N connections can go no faster than N messages per group cycle.
/// </summary>
public sealed record GroupCommits(long Groups, double MeanSize, double P50Ms, double P99Ms)
{
    public override string ToString() => Groups == 0 ? "no group commits" : $"{Groups} groups of {MeanSize:0.0} on average, p50 {P50Ms:0.00} p99 {P99Ms:0.00} ms each";
}

/// <summary>Listens to the message log's group-commit histograms between <see cref="Start"/> and <see cref="Stop"/>.</summary>
public sealed class GroupCommitRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Lock _gate = new();
    private readonly List<int> _sizes = [];
    private readonly List<double> _durations = [];
    private bool _recording;

    public GroupCommitRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ChatMetrics.MeterName && instrument.Name is "chat.group_commit.size" or "chat.group_commit.duration")
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<int>((_, size, _, _) =>
        {
            lock (_gate) if (_recording) _sizes.Add(size);
        });
        _listener.SetMeasurementEventCallback<double>((_, milliseconds, _, _) =>
        {
            lock (_gate) if (_recording) _durations.Add(milliseconds);
        });
        _listener.Start();
    }

    public void Start()
    {
        lock (_gate)
        {
            _sizes.Clear();
            _durations.Clear();
            _recording = true;
        }
    }

    public GroupCommits Stop()
    {
        lock (_gate)
        {
            _recording = false;
            if (_sizes.Count == 0) return new GroupCommits(0, double.NaN, double.NaN, double.NaN);
            var sorted = _durations.Order().ToArray();
            return new GroupCommits(_sizes.Count, _sizes.Average(), Percentiles.Of(sorted, 0.50), Percentiles.Of(sorted, 0.99));
        }
    }

    public void Dispose() => _listener.Dispose();
}
