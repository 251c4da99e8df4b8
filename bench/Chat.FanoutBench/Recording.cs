using System.Diagnostics;
using System.Globalization;
using Chat.Api.V1;

namespace Chat.FanoutBench;

/// <summary>
/// The payload both sides carry: the text starts with the Stopwatch timestamp taken just before the message was sent
/// (stack: just before the unary SendMessage call; baseline: just before the publisher writes it to the listeners' queues).
/// </summary>
public static class Payload
{
    private const int StampDigits = 19;

    /// <summary>A chat-line-sized text carrying its send timestamp.</summary>
    public static string Text(long stamp, int index) =>
        $"{stamp.ToString("D" + StampDigits, CultureInfo.InvariantCulture)} fan-out bench message {index,6}, hello everyone!";

    public static long Stamp(string text) => long.Parse(text.AsSpan(0, StampDigits), NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>What the gateway sends a subscriber for one committed send_message without a connection (bench/Bench.Common).</summary>
    public static ServerMessage Update(string sender, DateTime sent, string text, ulong offset) => GatewayShape.MessageUpdate(sender, sent, text, offset);
}

/// <summary>
/// One connection's record of what it received: every message exactly once, offsets 1, 2, 3, ... in order,
/// and the latency of each (arrival minus the stamp in its text).
/// </summary>
public sealed class Receiver(int index, int expected, ReceiveLatch latch) : OrderedReceiver(expected, 0, latch)
{
    public int Index => index;

    protected override string Name => $"connection {index}";

    protected override long Now() => Stopwatch.GetTimestamp();

    protected override long Latency(Api.V1.MessageRow row, long now) => now - Payload.Stamp(row.Text);
}

/// <summary>One side at one level: its receivers, and a task that completes when all of them have everything.</summary>
public sealed class Round
{
    private readonly ReceiveLatch _latch = new();

    public Round(int connections, int messages)
    {
        Messages = messages;
        Acknowledged = new long[messages + 1];
        Receivers = Enumerable.Range(0, connections).Select(i => new Receiver(i, messages, _latch)).ToArray();
        _latch.Expect(messages == 0 ? 0 : connections);
    }

    public int Messages { get; }
    public Receiver[] Receivers { get; }
    public Task AllReceived => _latch.AllReceived;

    public Task<List<string>> WaitAllAsync(CancellationToken cancel) => _latch.WaitAsync(Receivers, cancel);

    /// <summary>Set by the sender: the stamp of its first message and of its last.</summary>
    public long FirstSend { get; set; }
    public long LastSend { get; set; }

    /// <summary>Stack only: when SendMessage returned, by offset (the commit is durable then), and send-to-acknowledgement times.</summary>
    public long[] Acknowledged { get; }
    public List<long> CommitLatencies { get; } = [];


    public IEnumerable<string> Problems() =>
        Receivers.Where(r => r.Error is not null || r.Count != Messages)
            .Select(r => $"connection {r.Index}: received {r.Count} of {Messages}{(r.Error is null ? "" : $", {r.Error}")}");
}

/// <summary>What one side measured at one level.</summary>
public sealed record SideResult(
    int Connections,
    int Messages,
    long Deliveries,
    double WindowSeconds,
    double DeliveriesPerSecond,
    double SendRate,
    double P50Ms,
    double P99Ms,
    double MaxMs,
    double CommitP50Ms,
    double CommitP99Ms,
    double AfterCommitP50Ms,
    double AfterCommitP99Ms,
    CpuUse Cpu,
    double CpuMicrosecondsPerDelivery,
    List<string> Problems)
{
    public static SideResult From(Round round, CpuUse cpu, List<string> problems)
    {
        var deliveries = round.Receivers.Sum(r => (long)r.Count);
        var lastArrival = round.Receivers.Length == 0 ? round.LastSend : round.Receivers.Max(r => r.LastArrival);
        var window = Math.Max(1, lastArrival - round.FirstSend) / (double)Stopwatch.Frequency;
        var sendWindow = (round.LastSend - round.FirstSend) / (double)Stopwatch.Frequency;
        var all = OrderedReceiver.SortedLatencies(round.Receivers);

        // Stack only: the same deliveries measured from the acknowledgement of the commit instead of the send.
        var afterCommit = Array.Empty<long>();
        if (round.CommitLatencies.Count > 0)
        {
            afterCommit = new long[deliveries];
            var at = 0;
            foreach (var receiver in round.Receivers)
            {
                var arrivals = receiver.Arrivals;
                for (var i = 0; i < arrivals.Length; i++)
                    afterCommit[at++] = arrivals[i] - round.Acknowledged[i + 1];
            }
            Array.Sort(afterCommit);
        }
        var commit = round.CommitLatencies.ToArray();
        Array.Sort(commit);

        return new SideResult(round.Receivers.Length, round.Messages, deliveries, window, deliveries / window,
            sendWindow > 0 ? (round.Messages - 1) / sendWindow : double.NaN,
            Percentile(all, 0.50), Percentile(all, 0.99), Percentile(all, 1),
            Percentile(commit, 0.50), Percentile(commit, 0.99), Percentile(afterCommit, 0.50), Percentile(afterCommit, 0.99),
            cpu, deliveries == 0 ? double.NaN : cpu.ProcessCores * cpu.Seconds * 1e6 / deliveries, problems);
    }

    /// <summary>Nearest rank over every delivery.</summary>
    private static double Percentile(long[] sorted, double q) => Percentiles.StopwatchMs(sorted, q);
}

/// <summary>Sends <c>count</c> things at a fixed pace, open loop: item i is due at start + i / rate, whatever happened to the earlier ones.</summary>
public static class Pacer
{
    public static async Task RunAsync(int count, double rate, Func<int, Task> fire, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            var due = start + (long)(i * Stopwatch.Frequency / rate);
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), cancellationToken);
            await fire(i);
        }
    }
}
