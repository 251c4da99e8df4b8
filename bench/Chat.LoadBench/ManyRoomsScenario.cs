using System.Diagnostics;
using Grpc.Core;
using Npgsql;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>
/// One total send rate of the many-rooms scenario. Stack: send->ack (from when the message was due) and achieved msg/s, and per
/// message from when it was due to its arrival at the last member of its room. Postgres: the same schedule written as one
/// INSERT and commit per message, latency from when it was due to the commit's return.
/// </summary>
public sealed record ManyRoomsRate(
    double Rate,
    int Messages,
    Measured Stack,
    double DeliveryP50Ms,
    double DeliveryP99Ms,
    double DeliveryMaxMs,
    CpuUse StackCpu,
    Measured Postgres,
    CpuUse PostgresCpu,
    Measured? PgBench,
    int PgBenchClients)
{
    /// <summary>What the target compares with: pgbench, or the in-process client where pgbench is missing.</summary>
    public Measured Reference => PgBench ?? Postgres;
}

public sealed record ManyRoomsSection(
    int Rooms,
    int Users,
    double SecondsPerRate,
    int PostgresPool,
    double PublishSeconds,
    double ConnectSeconds,
    double AckTargetMs,
    List<ManyRoomsRate> Rates);

/// <summary>
/// Issue 15, many rooms: R databases x U members each, every member one Connect stream subscribed to <c>SELECT * FROM Message</c>
/// of its room and also the room's sender (CallReducer send_message on the same stream). Open loop at each total rate: message i
/// is due at i / rate, goes to room i mod R and is sent by member (i / R) mod U, whatever the replies so far, so latencies include
/// any queueing. The same streams serve every rate; offsets continue from one rate to the next. Beside each rate, raw
/// PostgreSQL, one INSERT and commit per message into a table of chat.message's shape: pgbench at the same total rate
/// (<c>-R</c>, <see cref="BaselinePool"/> clients), and the same schedule from Npgsql in this process, one writer per room.
/// </summary>
public sealed class ManyRoomsScenario(Bench bench)
{
    /// <summary>The highest rate counts as sustained when send->ack p99 stays under this and at least 95% of the rate was achieved.</summary>
    public const double AckTargetMs = 50;

    /// <summary>
    /// The raw-PostgreSQL writers' pool. The throwaway cluster allows 200 connections, and after the stack's rounds the silo's own
    /// pool (up to 100, one commit per room at a time) still holds its connections, so the shared pool of 100 would be refused
    /// ("too many clients"). 50 connections already commit far more than these rates need.
    /// </summary>
    public const int BaselinePool = 50;

    private const int PublishParallelism = 16;
    private const int ConnectParallelism = 32;

    private int _rooms, _users;
    private string[] _names = [];
    private long[] _databaseIds = [];
    private byte[][] _senderIds = [];
    private RoomMember[] _members = [];
    private ulong[] _offsetBase = [];
    private List<(ulong Offset, string Text)>[] _acked = [];
    private NpgsqlDataSource? _baselineDb;

    public async Task<ManyRoomsSection> RunAsync()
    {
        var options = bench.Options;
        (_rooms, _users) = (options.ManyRooms, options.ManyRoomsUsers);
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"== rooms: {_rooms:N0} rooms x {_users} members ({_rooms * _users:N0} Connect streams, each subscribed to its room and sending to it), " +
                          $"total rates {string.Join(", ", options.ManyRoomsRates)} msg/s, {options.ManyRoomsSeconds:0.#} s each per side; open loop");

        _names = Enumerable.Range(0, _rooms).Select(r => bench.Name($"rooms-{r}")).ToArray();
        await Parallel.ForEachAsync(_names, new ParallelOptions { MaxDegreeOfParallelism = PublishParallelism, CancellationToken = bench.Cancel },
            async (name, _) => await bench.Publish(name));
        var published = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"   {_rooms:N0} databases published in {published:0.0} s ({_rooms / published:0}/s, {PublishParallelism} at a time)");
        _databaseIds = await Sql.DatabaseIds(bench.Db, _names);
        await BaselineTable.Create(bench.Db);
        _senderIds = Enumerable.Range(0, _rooms * _users).Select(_ => System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).ToArray();
        _offsetBase = new ulong[_rooms];
        _acked = Enumerable.Range(0, _rooms).Select(_ => new List<(ulong, string)>()).ToArray();

        await using var baselineDb = _baselineDb = NpgsqlDataSource.Create(
            new NpgsqlConnectionStringBuilder(bench.ConnectionString) { MaxPoolSize = BaselinePool }.ConnectionString);
        var channels = Bench.Channels(bench.Stack.Address, _rooms * _users);
        _members = new RoomMember[_rooms * _users];
        using var abort = new CancellationTokenSource();
        try
        {
            var opening = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, _members.Length),
                new ParallelOptions { MaxDegreeOfParallelism = ConnectParallelism, CancellationToken = bench.Cancel },
                async (i, token) =>
                {
                    var call = new V1.Chat.ChatClient(channels[i / StackHost.StreamsPerChannel])
                        .Connect(new Metadata { { "database", _names[i / _users] } }, cancellationToken: abort.Token);
                    _members[i] = new RoomMember(call, abort.Token);
                    await RoomScenario.Subscribe(i, call, token);
                    _members[i].Start();
                });
            var connected = opening.Elapsed.TotalSeconds;
            Console.WriteLine($"   {_members.Length:N0} members connected and subscribed in {connected:0.0} s ({ConnectParallelism} at a time); " +
                              $"setup {clock.Elapsed.TotalSeconds:0.0} s in all");

            // First sends activate each room's message log and fill the connection pool: not reported, but verified like the rest.
            var warmRate = Math.Max(options.ManyRoomsRates.Min(), _rooms / 2.0);
            var before = bench.Problems.Count;
            await RunStack("warm-up", warmRate, _rooms);
            await RunPostgres("warm-up", warmRate, _rooms);
            await RunPgBench("warm-up", warmRate, 2); // pgbench's -T also runs while its clients connect: 1 s can end before any transaction
            for (var i = before; i < bench.Problems.Count; i++) bench.Problems[i] = $"warm-up: {bench.Problems[i]}";
            Console.WriteLine($"   warm-up done ({clock.Elapsed.TotalSeconds:0.0} s)");

            var results = new List<ManyRoomsRate>();
            for (var index = 0; index < options.ManyRoomsRates.Length; index++)
            {
                var rate = options.ManyRoomsRates[index];
                var messages = Math.Max(1, (int)Math.Round(rate * options.ManyRoomsSeconds));
                Console.WriteLine($"-- {rate:0} msg/s: {messages} messages, {(index % 2 == 0 ? "stack first" : "raw PostgreSQL first")}");
                var label = $"{rate:0}";
                StackSide stack;
                (Measured Measured, CpuUse Cpu) postgres;
                (Measured? Measured, int Clients) pgbench;
                if (index % 2 == 0)
                {
                    stack = await RunStack(label, rate, messages);
                    pgbench = await RunPgBench(label, rate, options.ManyRoomsSeconds);
                    postgres = await RunPostgres(label, rate, messages);
                }
                else
                {
                    pgbench = await RunPgBench(label, rate, options.ManyRoomsSeconds);
                    postgres = await RunPostgres(label, rate, messages);
                    stack = await RunStack(label, rate, messages);
                }
                results.Add(new ManyRoomsRate(rate, messages, stack.Ack, stack.DeliveryP50Ms, stack.DeliveryP99Ms, stack.DeliveryMaxMs, stack.Cpu,
                    postgres.Measured, postgres.Cpu, pgbench.Measured, pgbench.Clients));
            }

            // Goodbye on every stream: a late duplicate would show now, and every end must be clean.
            await Parallel.ForEachAsync(_members, new ParallelOptions { MaxDegreeOfParallelism = ConnectParallelism }, async (member, _) => await member.CloseAsync());
            foreach (var (member, i) in _members.Select((m, i) => (m, i)))
                if (member.Error is { } error) bench.Problems.Add($"rooms, member {i / _users}/{i % _users}: {error}");
            // Every acknowledged message of every rate is in chat.message exactly once, offsets 1..n per room.
            for (var r = 0; r < _rooms; r++)
                bench.Problems.AddRange((await Verify.Acknowledged(bench.Db, "rooms", _names[r], _acked[r])).Issues.Select(p => $"rooms: {p}"));
            await BaselineTable.Drop(bench.Db); // matters on a server given with --postgres, which outlives the run
            Console.WriteLine($"rooms done ({clock.Elapsed.TotalSeconds:0} s)");
            return new ManyRoomsSection(_rooms, _users, options.ManyRoomsSeconds, BaselinePool, published, connected, AckTargetMs, results);
        }
        finally
        {
            abort.Cancel();
            foreach (var member in _members) member?.Dispose();
            foreach (var channel in channels) channel.Dispose();
        }
    }

    private sealed record StackSide(Measured Ack, double DeliveryP50Ms, double DeliveryP99Ms, double DeliveryMaxMs, CpuUse Cpu);

    // Unique per message within a database, so a subscriber's text can be told from any other.
    private string Text(string label, int message) =>
        $"rooms {label} r{message % _rooms} u{message / _rooms % _users} #{message}: hello everyone, this is the load bench";

    /// <summary>Message i goes to room i mod R and is sent by member (i / R) mod U of that room: the indexes of one member's messages.</summary>
    private int[] Schedule(int room, int user, int messages)
    {
        var mine = new List<int>();
        for (var i = room + _rooms * user; i < messages; i += _rooms * _users) mine.Add(i);
        return [.. mine];
    }

    private async Task<StackSide> RunStack(string label, double rate, int messages)
    {
        var config = new RoomConfig(_rooms, _users, rate);
        var perRoom = RoomScenario.PerRoom(config, messages);
        var round = new RoomRound(config, perRoom, (ulong[])_offsetBase.Clone());
        var senders = new RoomSender[_members.Length];
        for (var j = 0; j < senders.Length; j++)
        {
            var (room, user) = (j / _users, j % _users);
            senders[j] = new RoomSender(_members[j].Call, room, user, Schedule(room, user, messages), i => Text(label, i), ownReader: false);
            _members[j].Next(senders[j], round.Receivers[j]);
        }

        var problems = new List<string>();
        var cpu = new CpuSampler(bench.Postmaster, bench.StackPid);
        var startUtc = DateTime.UtcNow.Ticks;
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(senders.Select(sender => Task.Run(() => sender.SendAsync(start, rate, bench.Cancel), CancellationToken.None)));
        problems.AddRange(await RoomScenario.WaitAcks(senders, bench.Cancel));
        problems.AddRange(await RoomScenario.WaitAll(round, bench.Cancel));
        var used = cpu.Stop();

        // What each room's offsets in this round should carry (text hash) and when each was due (UTC ticks).
        var expected = perRoom.Select(n => new int[n]).ToArray();
        var due = perRoom.Select(n => new long[n]).ToArray();
        foreach (var sender in senders)
        {
            var room = sender.Room;
            foreach (var (offset, message) in sender.AcknowledgedMessages())
            {
                var text = Text(label, message);
                _acked[room].Add((offset, text));
                var at = (long)(offset - _offsetBase[room]) - 1;
                if (at < 0 || at >= perRoom[room]) continue; // Verify.Acknowledged reports it
                expected[room][at] = text.GetHashCode(StringComparison.Ordinal);
                due[room][at] = startUtc + (long)(message * TimeSpan.TicksPerSecond / rate);
            }
        }
        problems.AddRange(round.Problems(expected));
        for (var r = 0; r < _rooms; r++) _offsetBase[r] += (ulong)perRoom[r];

        // Per message: from when it was due to its arrival at the last member of its room.
        var delivery = new List<long>(messages);
        for (var r = 0; r < _rooms; r++)
            for (var at = 0; at < perRoom[r]; at++)
            {
                var last = long.MinValue;
                for (var u = 0; u < _users; u++)
                {
                    var arrivals = round.Receivers[r * _users + u].Arrivals;
                    if (at < arrivals.Length) last = Math.Max(last, arrivals[at]);
                }
                if (last != long.MinValue && due[r][at] != 0) delivery.Add(last - due[r][at]);
            }
        var deliveries = delivery.ToArray();
        Array.Sort(deliveries);

        var acks = senders.SelectMany(s => s.AckLatenciesFromDue(start, rate)).ToArray();
        Array.Sort(acks);
        var failed = senders.Where(s => s.Error is not null).ToList();
        var end = senders.Max(s => s.LastAck);
        var seconds = Math.Max(1, (end == 0 ? Stopwatch.GetTimestamp() : end) - start) / (double)Stopwatch.Frequency;
        var ack = Measured.From(new Run(acks.Length, failed.Count, failed.FirstOrDefault()?.Error, seconds, acks)) with { Cpu = used };
        bench.Problems.AddRange(problems.Select(p => $"rooms {label} msg/s, stack: {p}"));
        var side = new StackSide(ack, Percentiles.Ms(deliveries, 0.50), Percentiles.Ms(deliveries, 0.99), Percentiles.Ms(deliveries, 1), used);
        Console.WriteLine($"   stack          {ack.PerSecond,7:0} msg/s acknowledged; send->ack p50 {ack.P50Ms:0.00} p99 {ack.P99Ms:0.00} max {ack.MaxMs:0.00} ms; " +
                          $"send->last member p50 {side.DeliveryP50Ms:0.00} p99 {side.DeliveryP99Ms:0.00} max {side.DeliveryMaxMs:0.00} ms;\n" +
                          $"                  cpu µs/msg client / stack / postgres {Report.CpuCell(ack)}; {used}" +
                          (problems.Count == 0 ? "" : $"\n   !! {problems.Count} problem(s): {problems[0]}"));
        return side;
    }

    /// <summary>The same schedule as the stack's, one writer per room, each message one autocommit INSERT (one durable commit).</summary>
    private async Task<(Measured, CpuUse)> RunPostgres(string label, double rate, int messages)
    {
        await BaselineTable.Truncate(bench.Db);
        var latencies = new List<long>[_rooms];
        var failures = 0;
        string? firstError = null;
        var cpu = new CpuSampler(bench.Postmaster, bench.StackPid);
        var start = Stopwatch.GetTimestamp();
        var last = start;
        await Task.WhenAll(Enumerable.Range(0, _rooms).Select(room => Task.Run(async () =>
        {
            var list = latencies[room] = [];
            for (var i = room; i < messages; i += _rooms)
            {
                var due = start + (long)(i * Stopwatch.Frequency / rate);
                var wait = due - Stopwatch.GetTimestamp();
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), bench.Cancel);
                string? error;
                try { error = await BaselineTable.Insert(_baselineDb!, _databaseIds[room], _senderIds[room * _users + i / _rooms % _users], Text(label, i), CancellationToken.None); }
                catch (NpgsqlException e) { error = e.Message; }
                var done = Stopwatch.GetTimestamp();
                if (error is null)
                {
                    list.Add(done - due);
                    InterlockedMax(ref last, done);
                    continue;
                }
                Interlocked.Increment(ref failures);
                Interlocked.CompareExchange(ref firstError, $"room {room}, message {i}: {error}", null);
                return;
            }
        }, CancellationToken.None)));
        var used = cpu.Stop();
        var all = latencies.SelectMany(l => l).ToArray();
        Array.Sort(all);
        var measured = Measured.From(new Run(all.Length, failures, firstError, Math.Max(1, last - start) / (double)Stopwatch.Frequency, all)) with { Cpu = used };
        var problems = new List<string>();
        if (failures > 0) problems.Add($"{failures} INSERTs failed, first: {firstError}");
        var (rows, distinct) = await Sql.CountBaseline(bench.Db);
        if (rows != all.Length || distinct != all.Length) problems.Add($"{all.Length} INSERTs acknowledged but {rows} rows ({distinct} distinct texts) stored");
        bench.Problems.AddRange(problems.Select(p => $"rooms {label} msg/s, raw PostgreSQL: {p}"));
        Console.WriteLine($"   Npgsql         {measured.PerSecond,7:0} msg/s committed;    send->ack p50 {measured.P50Ms:0.00} p99 {measured.P99Ms:0.00} max {measured.MaxMs:0.00} ms " +
                          $"({_rooms} writers, pool {BaselinePool}); cpu µs/msg {Report.CpuCell(measured)}; {used}" +
                          (problems.Count == 0 ? "" : $"\n   !! {problems.Count} problem(s): {problems[0]}"));
        return (measured, used);
    }

    /// <summary>
    /// pgbench at the same total rate (-R: pgbench's own schedule, Poisson arrivals, latency from when each transaction was due), as
    /// many clients as the in-process baseline's pool, for the same seconds (rounded up to whole seconds, as pgbench takes them).
    /// </summary>
    private async Task<(Measured?, int)> RunPgBench(string label, double rate, double seconds)
    {
        if (bench.PgBench is not { } pgbench) return (null, 0);
        await BaselineTable.Truncate(bench.Db);
        // The in-process baseline's idle connections (its own pool and the shared one) would take the server's room.
        _baselineDb?.Clear();
        bench.Db.Clear();
        var clients = await PgBench.Room(bench.Db, Math.Min(_rooms, BaselinePool));
        var run = await PgBench.RunAsync(pgbench, bench.ConnectionString, _databaseIds[0], clients, seconds, rate, bench.RunFolder, bench.Postmaster, bench.StackPid, bench.Cancel);
        var m = run.Measured with { Cpu = run.Cpu, ClientIsChild = true };
        var problems = new List<string>();
        if (m.Failures > 0) problems.Add($"{m.Failures} transactions failed");
        var (rows, distinct) = await Sql.CountBaseline(bench.Db);
        if (rows != m.Calls || distinct != m.Calls || run.Reported != m.Calls)
            problems.Add($"{run.Reported} transactions reported, {m.Calls} logged, but {rows} rows ({distinct} distinct texts) stored");
        bench.Problems.AddRange(problems.Select(p => $"rooms {label} msg/s, pgbench: {p}"));
        Console.WriteLine($"   pgbench        {m.PerSecond,7:0} msg/s committed;    send->ack p50 {m.P50Ms:0.00} p99 {m.P99Ms:0.00} max {m.MaxMs:0.00} ms " +
                          $"(-c {clients} -j {run.Threads} -R {rate:0}, connecting took {run.ConnectMs:0} ms; {rows} rows); cpu µs/msg {Report.CpuCell(m)}; {run.Cpu}" +
                          (problems.Count == 0 ? "" : $"\n   !! {problems.Count} problem(s): {problems[0]}"));
        return (m, clients);
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref target, value, seen);
            if (was == seen) return;
            seen = was;
        }
    }
}

/// <summary>
/// A room member's Connect stream, subscribed and sending on the same stream. Its one reader hands ReducerResults to the current
/// round's sender and TransactionUpdates to the current round's receiver; rounds change only when the one before has everything.
/// </summary>
internal sealed class RoomMember(AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call, CancellationToken aborted) : IDisposable
{
    private RoomSender? _sender;
    private RoomReceiver? _receiver;
    private Task _reading = Task.CompletedTask;

    public AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> Call => call;
    public string? Error { get; private set; }

    public void Start() => _reading = Task.Run(ReadAsync, CancellationToken.None);

    public void Next(RoomSender sender, RoomReceiver receiver)
    {
        Volatile.Write(ref _sender, sender);
        Volatile.Write(ref _receiver, receiver);
    }

    private async Task ReadAsync()
    {
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                var message = call.ResponseStream.Current;
                switch (message.MessageCase)
                {
                    case V1.ServerMessage.MessageOneofCase.ReducerResult when Volatile.Read(ref _sender) is { } sender:
                        sender.OnReducerResult(message.ReducerResult);
                        break;
                    case V1.ServerMessage.MessageOneofCase.TransactionUpdate when Volatile.Read(ref _receiver) is { } receiver:
                        receiver.OnMessage(message);
                        break;
                    default:
                        Fail($"unexpected {message.MessageCase}");
                        break;
                }
            }
        }
        catch (RpcException e) when (!aborted.IsCancellationRequested)
        {
            Fail($"the stream failed: {e.Status}");
        }
    }

    private void Fail(string error)
    {
        Error ??= error;
        Volatile.Read(ref _sender)?.Fail(error);
        Volatile.Read(ref _receiver)?.Fail(error);
    }

    /// <summary>Goodbye: the stream must end cleanly, with nothing more to say.</summary>
    public async Task CloseAsync()
    {
        try
        {
            await call.RequestStream.CompleteAsync();
            await _reading.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            Error ??= "the stream did not end within 60 s of the goodbye";
        }
    }

    public void Dispose() => call.Dispose();
}
