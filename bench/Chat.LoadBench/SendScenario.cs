using System.Text.Json;
using Chat.LoadBench.Proto;
using Grpc.Core;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>
/// One concurrency level of the send scenario: the two stack kinds and the baselines. <see cref="PgBench"/> (null when pgbench is not
/// installed) is the raw-PostgreSQL reference; <see cref="Postgres"/> is the same INSERTs from Npgsql inside this process.
/// </summary>
public sealed record LevelResult(int Connections, Measured Connect, Measured Unary, Measured Postgres, Measured? PgBench, int PgBenchClients,
    Measured GrpcUnary, Measured GrpcBidi, bool StackFirst)
{
    /// <summary>What targets and ratios compare with: pgbench, or the in-process client where pgbench is missing.</summary>
    public Measured Reference => PgBench ?? Postgres;
}

/// <summary>
/// Scenario 1, send: closed-loop send_message through the in-process stack at N connections, each with one call outstanding,
/// first over Connect (CallReducer matched by request_id), then with unary SendMessage. Beside each, in the same run: raw
/// PostgreSQL (one INSERT + commit per message, N clients: pgbench, and Npgsql in this process) and the bare gRPC server (empty
/// unary call / ping-pong on a bidi stream, N workers). Levels alternate which goes first, the stack or raw PostgreSQL. Every
/// acknowledged message is checked in chat.message afterwards, and every pgbench transaction in the baseline table.
/// </summary>
public sealed class SendScenario(Bench bench) : IDisposable
{
    private readonly GroupCommitRecorder _groups = new();

    public void Dispose() => _groups.Dispose();

    private long _baselineDatabaseId;

    public async Task<List<LevelResult>> RunAsync()
    {
        var options = bench.Options;
        var duration = TimeSpan.FromSeconds(options.SendSeconds);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Console.WriteLine($"== send: connections {string.Join(",", options.SendConnections)}, {options.SendSeconds:0.#} s per measurement after " +
                          $"{options.WarmupSeconds:0.#} s warm-up; closed loop, one call outstanding per connection");
        // The raw PostgreSQL rows hang off a published database, as chat.message's do.
        var baselineDatabase = bench.Name("load-pg-baseline");
        await bench.Publish(baselineDatabase);
        _baselineDatabaseId = await Sql.DatabaseId(bench.Db, baselineDatabase);
        await BaselineTable.Create(bench.Db);

        if (options.WarmupSeconds > 0)
        {
            // JIT, first activations, connection pools; not reported, but the stack's rows are verified like the rest.
            var warm = TimeSpan.FromSeconds(options.WarmupSeconds);
            var w = Math.Min(16, options.SendConnections.Max());
            var before = bench.Problems.Count;
            await RunConnect(bench.Name("load-warmup-connect"), w, warm);
            await RunUnary(bench.Name("load-warmup-unary"), w, warm);
            await RunPostgres(w, warm);
            await RunPgBench(w, warm);
            await RunGrpcUnary(w, warm);
            await RunGrpcBidi(w, warm);
            for (var i = before; i < bench.Problems.Count; i++) bench.Problems[i] = $"warm-up: {bench.Problems[i]}";
            Console.WriteLine($"warm-up done ({clock.Elapsed.TotalSeconds:0.0} s)");
        }

        var results = new List<LevelResult>();
        if (bench.PgBench is null) Console.WriteLine("   pgbench not found (CHAT_POSTGRES_BIN, /usr/lib/postgresql/*/bin, PATH): ratios use the in-process Npgsql baseline");
        for (var index = 0; index < options.SendConnections.Length; index++)
        {
            var n = options.SendConnections[index];
            // Alternating the order spreads over both sides whatever drifts during a run (checkpoints, other tenants, caches).
            var stackFirst = index % 2 == 0;
            Console.WriteLine($"-- {n} connections, {(stackFirst ? "stack first" : "raw PostgreSQL first")}");
            Measured connect, unary, pg;
            (Measured? Measured, int Clients) pgbench;
            if (stackFirst)
            {
                connect = await RunConnect(bench.Name($"load-connect-{n}"), n, duration);
                unary = await RunUnary(bench.Name($"load-unary-{n}"), n, duration);
                pgbench = await RunPgBench(n, duration);
                pg = await RunPostgres(n, duration);
            }
            else
            {
                pgbench = await RunPgBench(n, duration);
                pg = await RunPostgres(n, duration);
                connect = await RunConnect(bench.Name($"load-connect-{n}"), n, duration);
                unary = await RunUnary(bench.Name($"load-unary-{n}"), n, duration);
            }
            var grpcUnary = await RunGrpcUnary(n, duration);
            var grpcBidi = await RunGrpcBidi(n, duration);
            results.Add(new LevelResult(n, connect, unary, pg, pgbench.Measured, pgbench.Clients, grpcUnary, grpcBidi, stackFirst));
        }
        await BaselineTable.Drop(bench.Db); // matters on a server given with --postgres, which outlives the run
        Console.WriteLine($"send done ({clock.Elapsed.TotalSeconds:0} s)");
        return results;
    }

    // send_message over N Connect streams (anonymous, one per connection), one CallReducer outstanding on each.
    private async Task<Measured> RunConnect(string database, int n, TimeSpan time)
    {
        await bench.Publish(database);
        var channels = Bench.Channels(bench.Stack.Address, n);
        var calls = new AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>[n];
        var acks = NewAcks(n);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = bench.Cancel },
                async (i, token) =>
                {
                    var call = calls[i] = new V1.Chat.ChatClient(channels[i / StackHost.StreamsPerChannel])
                        .Connect(new Metadata { { "database", database } }, cancellationToken: bench.Cancel);
                    if (!await call.ResponseStream.MoveNext(token) || call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
                        throw new InvalidOperationException($"connection {i}: no IdentityToken first");
                });
            _groups.Start();
            var cpu = new CpuSampler(bench.Postmaster, bench.StackPid);
            var run = await ClosedLoop.Drive(n, time, async (w, seq) =>
            {
                var call = calls[w];
                var id = (uint)seq;
                var text = Text(w, seq);
                await call.RequestStream.WriteAsync(new V1.ClientMessage
                {
                    CallReducer = new V1.CallReducer { RequestId = id, Reducer = "send_message", ArgsJson = JsonSerializer.Serialize(new[] { text }) },
                });
                while (true)
                {
                    if (!await call.ResponseStream.MoveNext(CancellationToken.None))
                        return "the stream ended before the ReducerResult";
                    var message = call.ResponseStream.Current;
                    if (message.MessageCase != V1.ServerMessage.MessageOneofCase.ReducerResult) continue; // nothing subscribed, but be tolerant
                    var result = message.ReducerResult;
                    if (result.RequestId != id) return $"ReducerResult for request {result.RequestId} while {id} was the only one outstanding";
                    if (result.Outcome.Code != 0) return $"send_message failed: {result.Outcome.Code} {result.Outcome.Error}";
                    acks[w].Add((result.Outcome.MessageOffset, text));
                    return null;
                }
            }, stopWorkerAtFailure: true, bench.Cancel);
            var used = cpu.Stop();
            var groups = _groups.Stop();
            // Goodbye on every stream: its end must come cleanly.
            await Parallel.ForEachAsync(calls, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = bench.Cancel }, async (call, token) =>
            {
                await call.RequestStream.CompleteAsync();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                while (await call.ResponseStream.MoveNext(timeout.Token)) { }
            });
            return await Verified("send over Connect", database, n, run, used, acks, groups);
        }
        finally
        {
            foreach (var call in calls) call?.Dispose();
            foreach (var channel in channels) channel.Dispose();
        }
    }

    // send_message with the unary SendMessage, N workers (all as the owner), one call outstanding each.
    private async Task<Measured> RunUnary(string database, int n, TimeSpan time)
    {
        await bench.Publish(database);
        var channels = Bench.Channels(bench.Stack.Address, n);
        var clients = Enumerable.Range(0, n).Select(i => new V1.Chat.ChatClient(channels[i / StackHost.StreamsPerChannel])).ToArray();
        var acks = NewAcks(n);
        try
        {
            _groups.Start();
            var cpu = new CpuSampler(bench.Postmaster, bench.StackPid);
            var run = await ClosedLoop.Drive(n, time, async (w, seq) =>
            {
                var text = Text(w, seq);
                try
                {
                    var reply = await clients[w].SendMessageAsync(new V1.SendMessageRequest { Database = database, Text = text }, bench.Owner);
                    acks[w].Add((reply.MessageOffset, text));
                    return null;
                }
                catch (RpcException e)
                {
                    return $"SendMessage failed: {e.Status}";
                }
            }, stopWorkerAtFailure: true, bench.Cancel);
            var used = cpu.Stop();
            var groups = _groups.Stop();
            return await Verified("send unary", database, n, run, used, acks, groups);
        }
        finally
        {
            foreach (var channel in channels) channel.Dispose();
        }
    }

    // Raw PostgreSQL: N workers, one autocommit INSERT (one durable commit) per message, at most PostgresPool connections.
    private async Task<Measured> RunPostgres(int n, TimeSpan time)
    {
        await BaselineTable.Truncate(bench.Db);
        var senders = Enumerable.Range(0, n).Select(_ => System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).ToArray();
        var cpu = new CpuSampler(bench.Postmaster, bench.StackPid);
        var run = await ClosedLoop.Drive(n, time, (w, seq) => BaselineTable.Insert(bench.Db, _baselineDatabaseId, senders[w], Text(w, seq), CancellationToken.None),
            stopWorkerAtFailure: true, bench.Cancel);
        var used = cpu.Stop();
        var issues = Failures("raw PostgreSQL", run);
        var (rows, distinct) = await Sql.CountBaseline(bench.Db, _baselineDatabaseId);
        if (rows != run.Acked || distinct != run.Acked)
            issues.Add($"raw PostgreSQL: {run.Acked} INSERTs acknowledged but {rows} rows ({distinct} distinct texts) stored");
        return Print($"Npgsql in-process{(n > Bench.PostgresPool ? $" (pool {Bench.PostgresPool})" : "")}", n, run, issues, used);
    }

    // Raw PostgreSQL as a good client does it: pgbench in a process of its own, N clients (as many as the server has room for).
    private async Task<(Measured?, int)> RunPgBench(int n, TimeSpan time)
    {
        if (bench.PgBench is not { } pgbench) return (null, 0);
        await BaselineTable.Truncate(bench.Db);
        bench.Db.Clear(); // the in-process baseline's idle connections would take the server's room
        var clients = await PgBench.Room(bench.Db, n);
        var run = await PgBench.RunAsync(pgbench, bench.ConnectionString, _baselineDatabaseId, clients, time.TotalSeconds, rate: null, bench.RunFolder,
            bench.Postmaster, bench.StackPid, bench.Cancel);
        var m = run.Measured;
        var issues = m.Failures == 0 ? new List<string>() : [$"pgbench: {m.Failures} transactions failed"];
        var (rows, distinct) = await Sql.CountBaseline(bench.Db, _baselineDatabaseId);
        if (rows != m.Calls || distinct != m.Calls || run.Reported != m.Calls)
            issues.Add($"pgbench: {run.Reported} transactions reported, {m.Calls} logged, but {rows} rows ({distinct} distinct texts) stored");
        bench.Problems.AddRange(issues.Select(i => $"send, {n} connections: {i}"));
        var measured = m with { Cpu = run.Cpu, ClientIsChild = true };
        Report(measured, $"pgbench -c {clients} -j {run.Threads}", issues,
            (issues.Count == 0 ? $"{rows} rows verified" : "rows WRONG") + $"; connecting took {run.ConnectMs:0} ms");
        return (measured, clients);
    }

    private async Task<Measured> RunGrpcUnary(int n, TimeSpan time)
    {
        var channels = Bench.Channels(bench.Baseline.Address, n);
        var clients = Enumerable.Range(0, n).Select(i => new LoadBaseline.LoadBaselineClient(channels[i / StackHost.StreamsPerChannel])).ToArray();
        var empty = new EmptyMessage();
        try
        {
            var run = await ClosedLoop.Drive(n, time, async (w, _) =>
            {
                try
                {
                    await clients[w].EmptyAsync(empty);
                    return null;
                }
                catch (RpcException e)
                {
                    return $"Empty failed: {e.Status}";
                }
            }, stopWorkerAtFailure: true, bench.Cancel);
            return Print("raw gRPC unary", n, run, Failures("raw gRPC unary", run));
        }
        finally
        {
            foreach (var channel in channels) channel.Dispose();
        }
    }

    private async Task<Measured> RunGrpcBidi(int n, TimeSpan time)
    {
        var channels = Bench.Channels(bench.Baseline.Address, n);
        var calls = new AsyncDuplexStreamingCall<Ping, Ping>[n];
        try
        {
            for (var i = 0; i < n; i++)
                calls[i] = new LoadBaseline.LoadBaselineClient(channels[i / StackHost.StreamsPerChannel]).PingPong(cancellationToken: bench.Cancel);
            _groups.Start();
            var run = await ClosedLoop.Drive(n, time, async (w, seq) =>
            {
                var call = calls[w];
                await call.RequestStream.WriteAsync(new Ping { Id = (uint)seq });
                if (!await call.ResponseStream.MoveNext(CancellationToken.None)) return "the stream ended";
                return call.ResponseStream.Current.Id == (uint)seq ? null : $"pong {call.ResponseStream.Current.Id} for ping {seq}";
            }, stopWorkerAtFailure: true, bench.Cancel);
            foreach (var call in calls)
            {
                await call.RequestStream.CompleteAsync();
                while (await call.ResponseStream.MoveNext(bench.Cancel)) { }
            }
            return Print("raw gRPC bidi", n, run, Failures("raw gRPC bidi", run));
        }
        finally
        {
            foreach (var call in calls) call?.Dispose();
            foreach (var channel in channels) channel.Dispose();
        }
    }

    // Every acknowledged message stored exactly once: rows = acks, offsets exactly 1..n, each acked offset's text matches.
    private async Task<Measured> Verified(string label, string database, int n, Run run, CpuUse cpu, List<(ulong Offset, string Text)>[] acks, GroupCommits groups)
    {
        var issues = Failures(label, run);
        var acked = acks.SelectMany(a => a).ToList();
        var (found, rows) = await Verify.Acknowledged(bench.Db, label, database, acked);
        issues.AddRange(found);
        if (acked.Count != run.Acked) issues.Add($"{label} {database}: {run.Acked} acks counted but {acked.Count} recorded");
        var measured = Print(label, n, run, issues, cpu, verified: issues.Count == 0 ? $"{rows} rows verified" : "rows WRONG");
        if (bench.External) return measured; // the grains run in another process: their meter is not readable here
        Console.WriteLine($"   {"",-28} message log: {groups}");
        return measured with { Groups = groups };
    }

    private static List<string> Failures(string label, Run run) =>
        run.Failures == 0 ? [] : [$"{label}: {run.Failures} calls failed, first: {run.FirstError}"];

    private Measured Print(string label, int n, Run run, List<string> issues, CpuUse? cpu = null, string verified = "")
    {
        bench.Problems.AddRange(issues.Select(i => $"send, {n} connections: {i}"));
        var m = Measured.From(run) with { Cpu = cpu };
        Report(m, label, issues, verified);
        return m;
    }

    private static void Report(Measured m, string label, List<string> issues, string verified)
    {
        var cpu = m.Cpu is null ? "" : $"\n   {"",-28} cpu µs/msg: client {m.ClientUsPerMessage:0}, stack {LoadBench.Report.StackCpu(m)}, " +
                                       $"postgres {m.PostgresUsPerMessage:0}; {m.Cpu}";
        Console.WriteLine($"   {label,-28} {m.PerSecond,9:0}/s  p50 {m.P50Ms,6:0.00}  p90 {m.P90Ms,6:0.00}  p99 {m.P99Ms,6:0.00}  max {m.MaxMs,7:0.00} ms  " +
                          $"({m.Calls} in {m.Seconds:0.00} s) {verified}{cpu}{(issues.Count == 0 ? "" : $"\n   !! {issues.Count} problem(s): {issues[0]}")}");
    }

    private static List<(ulong Offset, string Text)>[] NewAcks(int n) => Enumerable.Range(0, n).Select(_ => new List<(ulong, string)>()).ToArray();

    // Unique per worker and call within a run; short like a chat line.
    private static string Text(int worker, long seq) => $"load w{worker} #{seq}: hello from the load bench, how is everyone?";
}
