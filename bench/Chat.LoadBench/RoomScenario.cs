using System.Diagnostics;
using System.Text.Json;
using Chat.Benchmarks.Proto;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>One side (stack or baseline) of one room configuration. Latencies in ms, nearest rank.</summary>
public sealed record RoomSide(
    int Subscribers,
    int Senders,
    int Messages,
    long Deliveries,
    double SendRate,
    double CommitRate,
    double WindowSeconds,
    double DeliveriesPerSecond,
    double LastP50Ms,
    double LastP99Ms,
    double LastMaxMs,
    double DeliveryP50Ms,
    double DeliveryP99Ms,
    double DeliveryMaxMs,
    double AckP50Ms,
    double AckP99Ms,
    double ConnectSeconds,
    CpuUse Cpu,
    List<string> Problems);

public sealed record RoomResult(RoomConfig Config, double OfferedDeliveriesPerSecond, RoomSide Stack, RoomSide Baseline);

/// <summary>
/// Scenario 2, chat room: R rooms (databases) x U users, each a Connect stream subscribed to <c>SELECT * FROM Message</c> of
/// its room, and a fixed total send rate, open loop, spread over a few sender connections per room (CallReducer send_message,
/// not waiting for the acknowledgement before the next send). Measured per message from its commit (the row's server
/// timestamp <c>sent</c>) to the last subscriber of its room, and per delivery. Beside it: the bare gRPC server broadcasting
/// the same rate to the same number of streams (<see cref="FanoutBaselineService"/>).
/// </summary>
public sealed class RoomScenario(Bench bench)
{
    /// <summary>One sender connection carries at most this many messages per second (the gateway runs one call per connection at a time).</summary>
    private const double RatePerSender = 50;

    private const int MaxSendersPerRoom = 32;

    public async Task<List<RoomResult>> RunAsync()
    {
        var options = bench.Options;
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"== room: {string.Join(", ", options.Rooms.Select(c => c.Label))}; {options.RoomSeconds:0.#} s of sending per side; " +
                          "latency from the message's commit (its server timestamp 'sent') to arrival, same machine clock");
        // JIT and first activations on both paths; not reported, but verified like the rest.
        var warm = new RoomConfig(1, 10, 200);
        var before = bench.Problems.Count;
        await RunStack(warm, "room-warmup", 1);
        await RunBaseline(warm, "warmup", 1);
        for (var i = before; i < bench.Problems.Count; i++) bench.Problems[i] = $"warm-up: {bench.Problems[i]}";
        Console.WriteLine($"warm-up done ({clock.Elapsed.TotalSeconds:0.0} s)");

        var results = new List<RoomResult>();
        for (var index = 0; index < options.Rooms.Length; index++)
        {
            var config = options.Rooms[index];
            var offered = config.Rate * config.Users;
            Console.WriteLine($"-- {config.Label}: {Messages(config, options.RoomSeconds)} messages, offered {offered:0} deliveries/s, " +
                              $"{(index % 2 == 0 ? "stack first" : "baseline first")}");
            RoomSide stack, baseline;
            if (index % 2 == 0)
            {
                stack = await RunStack(config, $"room-{index + 1}", options.RoomSeconds);
                baseline = await RunBaseline(config, $"{index + 1}", options.RoomSeconds);
            }
            else
            {
                baseline = await RunBaseline(config, $"{index + 1}", options.RoomSeconds);
                stack = await RunStack(config, $"room-{index + 1}", options.RoomSeconds);
            }
            bench.Problems.AddRange(stack.Problems.Select(p => $"room {config.Label}, stack: {p}"));
            bench.Problems.AddRange(baseline.Problems.Select(p => $"room {config.Label}, baseline: {p}"));
            results.Add(new RoomResult(config, offered, stack, baseline));
        }
        Console.WriteLine($"room done ({clock.Elapsed.TotalSeconds:0} s)");
        return results;
    }

    private static int Messages(RoomConfig config, double seconds) => Math.Max(config.Rooms, (int)Math.Round(config.Rate * seconds));

    /// <summary>Message i (0-based, due at i / rate) goes to room i mod R; how many each room gets.</summary>
    internal static int[] PerRoom(RoomConfig config, int messages) =>
        Enumerable.Range(0, config.Rooms).Select(r => messages / config.Rooms + (r < messages % config.Rooms ? 1 : 0)).ToArray();

    private static int SendersPerRoom(RoomConfig config) =>
        Math.Clamp((int)Math.Ceiling(config.Rate / config.Rooms / RatePerSender), 1, MaxSendersPerRoom);

    // Unique per message within a round, the same length on both sides.
    private static string Text(int room, int sender, int index) => $"room {room} sender {sender} #{index}: hello everyone, this is the load bench";

    // ---- Stack ----------------------------------------------------------------------------------------------------

    private async Task<RoomSide> RunStack(RoomConfig config, string prefix, double seconds)
    {
        var rooms = Enumerable.Range(0, config.Rooms).Select(r => bench.Name($"{prefix}-{r}")).ToArray();
        foreach (var room in rooms) await bench.Publish(room);
        var messages = Messages(config, seconds);
        var perRoom = PerRoom(config, messages);
        var k = SendersPerRoom(config);
        var round = new RoomRound(config, perRoom);
        var subscriberChannels = Bench.Channels(bench.Stack.Address, round.Receivers.Length);
        var senderChannels = Bench.Channels(bench.Stack.Address, config.Rooms * k);
        var subscribers = new AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>?[round.Receivers.Length];
        var reading = Enumerable.Repeat(Task.CompletedTask, subscribers.Length).ToArray();
        var senders = new RoomSender[config.Rooms * k];
        using var abort = new CancellationTokenSource();
        var problems = new List<string>();
        try
        {
            var opening = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, subscribers.Length), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = bench.Cancel },
                async (i, token) =>
                {
                    var receiver = round.Receivers[i];
                    var call = subscribers[i] = new V1.Chat.ChatClient(subscriberChannels[i / StackHost.StreamsPerChannel])
                        .Connect(new Metadata { { "database", rooms[receiver.Room] } }, cancellationToken: abort.Token);
                    await Subscribe(i, call, token);
                    reading[i] = Task.Run(() => Read(call.ResponseStream, receiver, abort.Token), CancellationToken.None);
                });
            for (var s = 0; s < senders.Length; s++)
            {
                var room = s / k;
                var call = new V1.Chat.ChatClient(senderChannels[s / StackHost.StreamsPerChannel])
                    .Connect(new Metadata { { "database", rooms[room] } }, cancellationToken: abort.Token);
                if (!await call.ResponseStream.MoveNext(bench.Cancel) || call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
                    throw new InvalidOperationException($"sender {s}: no IdentityToken first");
                // Global message i goes to room i mod R and, within the room, to sender (i / R) mod k.
                var mine = Enumerable.Range(0, messages).Where(i => i % config.Rooms == room && i / config.Rooms % k == s % k).ToArray();
                senders[s] = new RoomSender(call, room, s % k, mine, i => Text(i % config.Rooms, i / config.Rooms % k, i / config.Rooms));
            }
            var connected = opening.Elapsed.TotalSeconds;

            var cpu = new CpuSampler(bench.Postmaster);
            var startUtc = DateTime.UtcNow.Ticks;
            var start = Stopwatch.GetTimestamp();
            await Task.WhenAll(senders.Select(sender => Task.Run(() => sender.SendAsync(start, config.Rate, bench.Cancel), CancellationToken.None)));
            problems.AddRange(await WaitAcks(senders, bench.Cancel));
            problems.AddRange(await WaitAll(round, bench.Cancel));
            var used = cpu.Stop();

            // Goodbye on every stream: a late duplicate would show now, and every end must be clean.
            await Close(subscribers, reading, round);
            foreach (var sender in senders) problems.AddRange(await sender.CloseAsync());

            // Every acknowledged message is in chat.message exactly once, and every subscriber got exactly those, in order.
            var expected = new int[config.Rooms][];
            for (var r = 0; r < config.Rooms; r++)
            {
                var acked = senders.Where(s => s.Room == r).SelectMany(s => s.Acknowledged()).ToList();
                var (issues, _) = await Verify.Acknowledged(bench.Db, "room", rooms[r], acked);
                problems.AddRange(issues);
                expected[r] = new int[perRoom[r]];
                foreach (var (offset, text) in acked)
                    if (offset >= 1 && offset <= (ulong)perRoom[r]) expected[r][offset - 1] = text.GetHashCode(StringComparison.Ordinal);
            }
            problems.AddRange(round.Problems(expected));
            var acks = senders.SelectMany(s => s.AckLatencies()).ToArray();
            var firstWrite = senders.Where(s => s.Count > 0).Min(s => s.FirstWrite);
            var lastWrite = senders.Where(s => s.Count > 0).Max(s => s.LastWrite);
            // The rate the stack committed at, from the first message's server timestamp to the last's: below the send rate when
            // calls queue up faster than the stack commits them.
            var committed = senders.SelectMany(s => s.CommitTimes()).DefaultIfEmpty().ToArray();
            var commitRate = (committed.Length - 1) / Math.Max(1e-6, (committed.Max() - committed.Min()) / (double)TimeSpan.TicksPerSecond);
            var side = Summarize(round, senders.Length, startUtc, (messages - 1) / Seconds(lastWrite - firstWrite), commitRate, acks, connected, used, problems);
            Print("stack", side);
            return side;
        }
        finally
        {
            abort.Cancel();
            foreach (var call in subscribers) call?.Dispose();
            foreach (var sender in senders) sender?.Dispose();
            try { await Task.WhenAll(reading).WaitAsync(TimeSpan.FromSeconds(10)); } catch (Exception) { /* aborted on purpose */ }
            foreach (var channel in subscriberChannels.Concat(senderChannels)) channel.Dispose();
        }
    }

    /// <summary>Reads the IdentityToken, subscribes to <c>SELECT * FROM Message</c> and reads the (empty) snapshot.</summary>
    internal static async Task Subscribe(int i, AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        if (!await call.ResponseStream.MoveNext(timeout.Token) || call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
            throw new InvalidOperationException($"subscriber {i}: no IdentityToken first");
        await call.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = new V1.Subscribe { RequestId = 1, Queries = { "SELECT * FROM Message" } } }, timeout.Token);
        while (true)
        {
            if (!await call.ResponseStream.MoveNext(timeout.Token))
                throw new InvalidOperationException($"subscriber {i}: the stream ended before the snapshot");
            var message = call.ResponseStream.Current;
            if (message.MessageCase != V1.ServerMessage.MessageOneofCase.SubscribeApplied)
                throw new InvalidOperationException($"subscriber {i}: {message.MessageCase} instead of SubscribeApplied: {message}");
            if (message.SubscribeApplied.Tables.Any(t => t.Messages.Count > 0 || t.Users.Count > 0))
                throw new InvalidOperationException($"subscriber {i}: the room should be empty");
            if (message.SubscribeApplied.Last) return;
        }
    }

    private static async Task Read(IAsyncStreamReader<V1.ServerMessage> stream, RoomReceiver receiver, CancellationToken aborted)
    {
        try
        {
            while (await stream.MoveNext(CancellationToken.None))
                receiver.OnMessage(stream.Current);
        }
        catch (RpcException e) when (!aborted.IsCancellationRequested)
        {
            receiver.Fail($"the stream failed: {e.Status}");
        }
    }

    /// <summary>Goodbye on every subscriber's stream; what goes wrong is the receiver's problem, listed by RoomRound.Problems.</summary>
    private static async Task Close(AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>?[] calls, Task[] reading, RoomRound round)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, calls.Length), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, cancel) =>
        {
            if (calls[i] is not { } call) return;
            await call.RequestStream.CompleteAsync();
            try { await reading[i].WaitAsync(TimeSpan.FromSeconds(60), cancel); }
            catch (TimeoutException) { round.Receivers[i].Fail("the stream did not end within 60 s of the client's goodbye"); }
        });
    }

    /// <summary>Every sender has all its acknowledgements, or one failed, or none came for 30 s.</summary>
    internal static async Task<List<string>> WaitAcks(RoomSender[] senders, CancellationToken cancel)
    {
        var progress = -1L;
        while (true)
        {
            var all = Task.WhenAll(senders.Select(s => s.AllAcknowledged));
            try
            {
                await all.WaitAsync(TimeSpan.FromSeconds(30), cancel);
                return [];
            }
            catch (TimeoutException)
            {
                var now = senders.Sum(s => (long)s.Acked);
                if (now == progress) return [$"stalled: {now} of {senders.Sum(s => s.Count)} acknowledgements after the last send"];
                progress = now;
            }
            catch (InvalidOperationException)
            {
                return senders.Where(s => s.Error is not null).Select(s => $"sender {s.Room}/{s.Index}: {s.Error}").ToList();
            }
        }
    }

    // ---- Baseline -------------------------------------------------------------------------------------------------

    private async Task<RoomSide> RunBaseline(RoomConfig config, string prefix, double seconds)
    {
        var hub = bench.Baseline.Hub;
        var rooms = Enumerable.Range(0, config.Rooms).Select(r => bench.Name($"{prefix}-{r}")).ToArray();
        var messages = Messages(config, seconds);
        var perRoom = PerRoom(config, messages);
        var k = SendersPerRoom(config);
        var round = new RoomRound(config, perRoom);
        var channels = Bench.Channels(bench.Baseline.Address, round.Receivers.Length);
        var calls = new AsyncServerStreamingCall<V1.ServerMessage>?[round.Receivers.Length];
        var reading = Enumerable.Repeat(Task.CompletedTask, calls.Length).ToArray();
        using var abort = new CancellationTokenSource();
        var problems = new List<string>();
        try
        {
            var opening = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, calls.Length), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = bench.Cancel },
                async (i, token) =>
                {
                    var receiver = round.Receivers[i];
                    var call = calls[i] = new FanoutBaseline.FanoutBaselineClient(channels[i / StackHost.StreamsPerChannel])
                        .Listen(new ListenRequest { Room = rooms[receiver.Room] }, cancellationToken: abort.Token);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(60));
                    if (!await call.ResponseStream.MoveNext(timeout.Token) || call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
                        throw new InvalidOperationException($"listener {i}: no hello first");
                    reading[i] = Task.Run(() => Read(call.ResponseStream, receiver, abort.Token), CancellationToken.None);
                });
            var connected = opening.Elapsed.TotalSeconds;

            // The publisher: message i at i / rate to room i mod R, stamped (truncated to microseconds, as the grain's 'sent')
            // just before it is queued to the room's listeners.
            var sender = new string('a', 64);
            var connection = new string('b', 32);
            var expected = perRoom.Select(n => new int[n]).ToArray();
            var cpu = new CpuSampler(bench.Postmaster);
            var startUtc = DateTime.UtcNow.Ticks;
            var start = Stopwatch.GetTimestamp();
            long firstWrite = 0, lastWrite = 0;
            for (var i = 0; i < messages; i++)
            {
                var wait = start + (long)(i * Stopwatch.Frequency / config.Rate) - Stopwatch.GetTimestamp();
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), bench.Cancel);
                var (room, index) = (i % config.Rooms, i / config.Rooms);
                var text = Text(room, index % k, index);
                expected[room][index] = text.GetHashCode(StringComparison.Ordinal);
                lastWrite = Stopwatch.GetTimestamp();
                if (i == 0) firstWrite = lastWrite;
                var now = DateTime.UtcNow;
                var sent = new DateTime(now.Ticks - now.Ticks % TimeSpan.TicksPerMicrosecond, DateTimeKind.Utc);
                var full = hub.Publish(GatewayShape.MessageUpdate(sender, sent, text, (ulong)index + 1, connection), rooms[room]);
                if (full > 0) problems.Add($"message {i}: {full} listener queues full");
            }
            problems.AddRange(await WaitAll(round, bench.Cancel));
            var used = cpu.Stop();
            hub.CompleteAll();
            try { await Task.WhenAll(reading).WaitAsync(TimeSpan.FromSeconds(60)); }
            catch (TimeoutException) { problems.Add("the listeners' streams did not end within 60 s"); }
            problems.AddRange(round.Problems(expected));
            var sendRate = (messages - 1) / Seconds(lastWrite - firstWrite);
            var side = Summarize(round, 1, startUtc, sendRate, sendRate, [], connected, used, problems);
            Print("baseline", side);
            return side;
        }
        finally
        {
            abort.Cancel();
            foreach (var call in calls) call?.Dispose();
            try { await Task.WhenAll(reading).WaitAsync(TimeSpan.FromSeconds(10)); } catch (Exception) { /* aborted on purpose */ }
            foreach (var channel in channels) channel.Dispose();
        }
    }

    // ---- Both -----------------------------------------------------------------------------------------------------

    /// <summary>Every subscriber has everything, or one saw something wrong (listed by RoomRound.Problems), or a stall.</summary>
    internal static Task<List<string>> WaitAll(RoomRound round, CancellationToken cancel) => round.WaitAllAsync(cancel);

    private static RoomSide Summarize(RoomRound round, int senders, long startUtc, double sendRate, double commitRate, long[] ackTicks, double connected, CpuUse cpu,
        List<string> problems)
    {
        var deliveries = round.Receivers.Sum(r => (long)r.Count);
        var all = OrderedReceiver.SortedLatencies(round.Receivers);
        // Per message: the latest of its room's subscribers (the 'sent' of an offset is the same for all of them).
        var last = new List<long>();
        foreach (var room in round.Receivers.GroupBy(r => r.Room))
            for (var i = 0; i < round.PerRoom[room.Key]; i++)
            {
                long worst = long.MinValue;
                foreach (var receiver in room)
                    if (i < receiver.Count) worst = Math.Max(worst, receiver.Latencies[i]);
                if (worst != long.MinValue) last.Add(worst);
            }
        var perMessage = last.ToArray();
        Array.Sort(perMessage);
        Array.Sort(ackTicks);
        var lastArrival = round.Receivers.Length == 0 ? startUtc : round.Receivers.Max(r => r.LastArrival);
        var window = Math.Max(1, lastArrival - startUtc) / (double)TimeSpan.TicksPerSecond;
        return new RoomSide(round.Receivers.Length, senders, round.PerRoom.Sum(), deliveries, sendRate, commitRate, window, deliveries / window,
            Percentiles.Ms(perMessage, 0.50), Percentiles.Ms(perMessage, 0.99), Percentiles.Ms(perMessage, 1),
            Percentiles.Ms(all, 0.50), Percentiles.Ms(all, 0.99), Percentiles.Ms(all, 1),
            Percentiles.StopwatchMs(ackTicks, 0.50), Percentiles.StopwatchMs(ackTicks, 0.99), connected, cpu, problems);
    }

    private static double Seconds(long stopwatchTicks) => Math.Max(1, stopwatchTicks) / (double)Stopwatch.Frequency;

    private static void Print(string side, RoomSide r)
    {
        var ack = double.IsNaN(r.AckP50Ms) ? "" : $", send->ack p50 {r.AckP50Ms:0.00} p99 {r.AckP99Ms:0.00} ms";
        Console.WriteLine($"   {side,-8} {r.DeliveriesPerSecond,8:0} deliveries/s over {r.WindowSeconds:0.00} s, sent at {r.SendRate:0}/s by {r.Senders}, " +
                          $"committed at {r.CommitRate:0}/s; " +
                          $"commit->last subscriber p50 {r.LastP50Ms:0.00} p99 {r.LastP99Ms:0.00} max {r.LastMaxMs:0.00} ms; " +
                          $"per delivery p50 {r.DeliveryP50Ms:0.00} p99 {r.DeliveryP99Ms:0.00} ms{ack}; connected in {r.ConnectSeconds:0.0} s; " +
                          $"{r.Cpu}{(r.Problems.Count == 0 ? "" : $"\n   !! {r.Problems.Count} problem(s): {r.Problems[0]}")}");
    }
}

/// <summary>
/// One subscriber's record: every message of its room exactly once, offsets 1, 2, 3, ... in order; per offset the latency
/// (arrival minus the row's 'sent', both UTC ticks of this machine's clock) and a hash of the text, checked at the end.
/// </summary>
internal sealed class RoomReceiver(int room, int index, int expected, ulong offsetBase, ReceiveLatch latch)
    : OrderedReceiver(expected, offsetBase, latch)
{
    private static readonly long Epoch = DateTime.UnixEpoch.Ticks;
    private readonly int[] _hashes = new int[expected];

    public int Room => room;
    public int Index => index;
    public ReadOnlySpan<int> Hashes => _hashes.AsSpan(0, Count);

    protected override string Name => $"subscriber {room}/{index}";

    protected override long Now() => DateTime.UtcNow.Ticks;

    protected override long Latency(V1.MessageRow row, long now) => now - (Epoch + row.Sent.Seconds * TimeSpan.TicksPerSecond + row.Sent.Nanos / 100);

    protected override void Keep(int index, V1.MessageRow row) => _hashes[index] = row.Text.GetHashCode(StringComparison.Ordinal);
}

/// <summary>One side of one configuration: its subscribers, and a task that completes when all of them have everything.</summary>
internal sealed class RoomRound
{
    private readonly ReceiveLatch _latch = new();

    /// <param name="offsetBase">Per room, the offsets taken by earlier rounds on the same databases (none when null).</param>
    public RoomRound(RoomConfig config, int[] perRoom, ulong[]? offsetBase = null)
    {
        PerRoom = perRoom;
        Receivers = Enumerable.Range(0, config.Rooms * config.Users)
            .Select(i => new RoomReceiver(i / config.Users, i % config.Users, perRoom[i / config.Users], offsetBase?[i / config.Users] ?? 0, _latch)).ToArray();
        _latch.Expect(Receivers.Count(r => r.Expected > 0));
    }

    public int[] PerRoom { get; }
    public RoomReceiver[] Receivers { get; }
    public Task AllReceived => _latch.AllReceived;

    public Task<List<string>> WaitAllAsync(CancellationToken cancel) => _latch.WaitAsync(Receivers, cancel);

    /// <summary>
    /// Every subscriber got its room's messages exactly once, in order, each with the text sent (by hash) for that offset;
    /// expectedHashes[room][offset - offsetBase - 1].
    /// </summary>
    public IEnumerable<string> Problems(int[][] expectedHashes)
    {
        var wrongText = 0;
        foreach (var r in Receivers)
        {
            if (r.Error is not null || r.Count != r.Expected)
            {
                yield return $"subscriber {r.Room}/{r.Index}: received {r.Count} of {r.Expected}{(r.Error is null ? "" : $", {r.Error}")}";
                continue;
            }
            var hashes = r.Hashes;
            for (var i = 0; i < hashes.Length; i++)
                if (hashes[i] != expectedHashes[r.Room][i])
                {
                    if (wrongText++ == 0) yield return $"subscriber {r.Room}/{r.Index}: offset {i + 1} has another text than the one acknowledged";
                    break;
                }
        }
        if (wrongText > 1) yield return $"{wrongText} subscribers received a text other than the one acknowledged";
    }
}

/// <summary>
/// One sender connection of a room: paced CallReducer send_message writes, and a reader that matches the ReducerResults. With
/// ownReader false the stream is also a subscriber's, read elsewhere, which passes the ReducerResults to <see cref="OnReducerResult"/>.
/// </summary>
internal sealed class RoomSender(AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call, int room, int index, int[] schedule, Func<int, string> textOf,
    bool ownReader = true) : IDisposable
{
    private readonly TaskCompletionSource _acked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long[] _written = new long[schedule.Length];
    private readonly long[] _ackedAt = new long[schedule.Length];
    private readonly long[] _committed = new long[schedule.Length];
    private readonly ulong[] _offsets = new ulong[schedule.Length];
    private readonly string[] _texts = new string[schedule.Length];
    private Task _reading = Task.CompletedTask;
    private int _acks;

    public int Room => room;
    public int Index => index;
    public int Count => schedule.Length;
    public int Acked => Volatile.Read(ref _acks);
    public string? Error { get; private set; }
    public Task AllAcknowledged => _acked.Task;
    public long FirstWrite => _written[0];
    public long LastWrite => _written[^1];

    /// <summary>Writes message m when global message schedule[m] is due (at schedule[m] / rate), without waiting for acknowledgements.</summary>
    public async Task SendAsync(long start, double rate, CancellationToken cancel)
    {
        if (schedule.Length == 0) _acked.TrySetResult();
        if (ownReader) _reading = Task.Run(ReadAsync, CancellationToken.None);
        for (var m = 0; m < schedule.Length; m++)
        {
            var wait = start + (long)(schedule[m] * Stopwatch.Frequency / rate) - Stopwatch.GetTimestamp();
            if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), cancel);
            var text = _texts[m] = textOf(schedule[m]);
            _written[m] = Stopwatch.GetTimestamp();
            await call.RequestStream.WriteAsync(new V1.ClientMessage
            {
                CallReducer = new V1.CallReducer { RequestId = (uint)m + 1, Reducer = "send_message", ArgsJson = JsonSerializer.Serialize(new[] { text }) },
            }, cancel);
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                var message = call.ResponseStream.Current;
                if (message.MessageCase != V1.ServerMessage.MessageOneofCase.ReducerResult)
                {
                    Fail($"unexpected {message.MessageCase}");
                    continue;
                }
                OnReducerResult(message.ReducerResult);
            }
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            Fail($"the stream failed: {e.Status}");
        }
    }

    /// <summary>Called by the stream's single reader, in the order the results arrive.</summary>
    public void OnReducerResult(V1.ReducerResult result)
    {
        var m = _acks;
        if (m >= schedule.Length)
        {
            Fail($"ReducerResult for request {result.RequestId} after all {schedule.Length} were acknowledged");
            return;
        }
        if (result.RequestId != (uint)m + 1)
        {
            Fail($"ReducerResult for request {result.RequestId} while {m + 1} was the oldest outstanding");
            return;
        }
        if (result.Outcome.Code != 0)
        {
            Fail($"send_message failed: {result.Outcome.Code} {result.Outcome.Error}");
            return;
        }
        _ackedAt[m] = Stopwatch.GetTimestamp();
        _offsets[m] = result.Outcome.MessageOffset;
        _committed[m] = result.Outcome.Timestamp?.ToDateTime().Ticks ?? 0;
        if (Interlocked.Increment(ref _acks) == schedule.Length) _acked.TrySetResult();
    }

    public void Fail(string error)
    {
        Error ??= error;
        _acked.TrySetException(new InvalidOperationException(error));
    }

    public IEnumerable<(ulong Offset, string Text)> Acknowledged()
    {
        for (var m = 0; m < Acked; m++) yield return (_offsets[m], _texts[m]);
    }

    /// <summary>The server timestamps ('sent') of the acknowledged messages, in UTC ticks.</summary>
    public IEnumerable<long> CommitTimes()
    {
        for (var m = 0; m < Acked; m++) yield return _committed[m];
    }

    public IEnumerable<long> AckLatencies()
    {
        for (var m = 0; m < Acked; m++) yield return _ackedAt[m] - _written[m];
    }

    /// <summary>
    /// From when each message was due (start + schedule[m] / rate, Stopwatch ticks) to its acknowledgement: in an open loop this
    /// includes any wait before the write, so a client that falls behind cannot hide it.
    /// </summary>
    public IEnumerable<long> AckLatenciesFromDue(long start, double rate)
    {
        for (var m = 0; m < Acked; m++) yield return _ackedAt[m] - (start + (long)(schedule[m] * Stopwatch.Frequency / rate));
    }

    /// <summary>The latest acknowledgement (Stopwatch ticks); 0 when none.</summary>
    public long LastAck => Acked == 0 ? 0 : _ackedAt[Acked - 1];

    /// <summary>Each acknowledged message's offset and global index (its place in the schedule of all rooms).</summary>
    public IEnumerable<(ulong Offset, int Message)> AcknowledgedMessages()
    {
        for (var m = 0; m < Acked; m++) yield return (_offsets[m], schedule[m]);
    }

    /// <summary>Goodbye: the stream must end cleanly, with nothing more to say.</summary>
    public async Task<List<string>> CloseAsync()
    {
        try
        {
            await call.RequestStream.CompleteAsync();
            await _reading.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            return [$"sender {room}/{index}: the stream did not end within 30 s of the goodbye"];
        }
        return Error is null ? [] : [$"sender {room}/{index}: {Error}"];
    }

    public void Dispose() => call.Dispose();
}
