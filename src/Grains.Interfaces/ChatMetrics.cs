using System.Diagnostics.Metrics;

namespace Chat;

/// <summary>
/// The service's own metrics (meter <c>Chat</c>), beside Orleans', ASP.NET Core's and Npgsql's. Exported by
/// OpenTelemetry: Prometheus at <c>/metrics</c>, and OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
/// </summary>
public static class ChatMetrics
{
    public const string MeterName = "Chat";
    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> ReducerCalls = Meter.CreateCounter<long>("chat.reducer.calls", description: "Reducer calls by reducer and outcome");
    private static readonly Histogram<double> ReducerDuration = Meter.CreateHistogram<double>("chat.reducer.duration", "ms", "Reducer latency as the grain sees it, commit included");
    private static readonly Histogram<int> GroupSize = Meter.CreateHistogram<int>("chat.group_commit.size", "{message}", "Messages per group commit");
    private static readonly Histogram<double> CommitDuration = Meter.CreateHistogram<double>("chat.group_commit.duration", "ms", "PostgreSQL time of one group commit");
    private static readonly Counter<long> Replays = Meter.CreateCounter<long>("chat.reducer.replays", description: "Reducer calls answered from an earlier call with the same idempotency key");
    private static readonly UpDownCounter<long> Connections = Meter.CreateUpDownCounter<long>("chat.gateway.connections", description: "Live Connect streams");
    private static readonly UpDownCounter<long> Subscriptions = Meter.CreateUpDownCounter<long>("chat.gateway.subscriptions", description: "Live subscription sets");
    private static readonly Counter<long> Refusals = Meter.CreateCounter<long>("chat.gateway.refusals", description: "Requests the gateway refused with RESOURCE_EXHAUSTED, by limit");
    private static readonly Counter<long> ExpiredUsers = Meter.CreateCounter<long>("chat.users.expired", description: "Never-named, offline, message-less users deleted after the retention period");
    private static readonly Histogram<double> FanOutLag = Meter.CreateHistogram<double>("chat.gateway.fanout_lag", "ms", "From a change's commit timestamp to its hand-off to a subscriber's queue");

    public static void Reducer(string reducer, ReducerStatus outcome, double milliseconds)
    {
        var tags = new KeyValuePair<string, object?>[] { new("reducer", reducer), new("outcome", outcome.ToString()) };
        ReducerCalls.Add(1, tags);
        ReducerDuration.Record(milliseconds, tags);
    }

    /// <summary>Counts <paramref name="answer"/> when it replays an earlier call's result, and returns it.</summary>
    public static ReducerResult Answered(string reducer, ReducerResult answer)
    {
        if (answer.Replayed) Replays.Add(1, new KeyValuePair<string, object?>("reducer", reducer));
        return answer;
    }

    public static void GroupCommit(int messages, double milliseconds)
    {
        GroupSize.Record(messages);
        CommitDuration.Record(milliseconds);
    }

    public static void ConnectionOpened() => Connections.Add(1);
    public static void ConnectionClosed() => Connections.Add(-1);
    public static void SubscriptionsChanged(int delta) => Subscriptions.Add(delta);
    /// <summary>A refusal by the gateway; <paramref name="limit"/> names the limit (<c>address_identities</c>, <c>address_connections</c>, ...).</summary>
    public static void Refused(string limit) => Refusals.Add(1, new KeyValuePair<string, object?>("limit", limit));
    public static void UsersExpired(int count) => ExpiredUsers.Add(count);
    public static void Delivered(DateTime committedAt) => FanOutLag.Record((DateTime.UtcNow - committedAt).TotalMilliseconds);
}
