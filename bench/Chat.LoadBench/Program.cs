// Closed-loop send_message load: N connections, each with one call outstanding, for a fixed time, through the real stack
// (silo + gateway in this process, durable PostgreSQL), first over Connect (CallReducer matched by request_id), then with
// unary SendMessage. Beside each, in the same run: raw PostgreSQL (one INSERT + commit per message, N workers) and a bare
// gRPC server (empty unary call / ping-pong on a bidi stream, N workers) on another loopback port.
// Usage: dotnet run -c Release --project bench/Chat.LoadBench -- [--quick] [--connections 1,16,64,256] [--seconds N] [--warmup N]
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Chat.LoadBench;
using Chat.LoadBench.Proto;
using Chat.Storage;
using Grpc.Core;
using Grpc.Net.Client;
using Npgsql;
using V1 = Chat.Api.V1;

const double TargetMessagesPerSecond = 25_000;
const double TargetRatio = 2;
const double TargetP99Ms = 2;
int[] levels = [1, 16, 64, 256];
var seconds = 5.0;
var warmupSeconds = 1.0;
try
{
    for (var i = 0; i < args.Length; i++)
        switch (args[i])
        {
            case "--quick": seconds = 2; break;
            case "--connections": levels = args[++i].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).Distinct().ToArray(); break;
            case "--seconds": seconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
            case "--warmup": warmupSeconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
            default: throw new FormatException($"unknown argument '{args[i]}'");
        }
    if (levels.Length == 0 || levels.Any(n => n is < 1 or > 2000) || seconds is <= 0 or > 60 || warmupSeconds is < 0 or > 60)
        throw new FormatException("need 1..2000 connections per level, 0 < seconds <= 60, 0 <= warmup <= 60");
}
catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
{
    Console.Error.WriteLine($"{e.Message}\nusage: Chat.LoadBench [--quick] [--connections 1,16,64,256] [--seconds N] [--warmup N]");
    return 2;
}

using var cancel = new CancellationTokenSource();
void Stop(PosixSignalContext context)
{
    context.Cancel = true; // unwind through the finally blocks so that the throwaway server is destroyed
    Console.Error.WriteLine("Stopping...");
    cancel.Cancel();
}
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

var duration = TimeSpan.FromSeconds(seconds);
var started = DateTime.UtcNow;
var clock = Stopwatch.StartNew();
var problems = new List<string>();
var results = new List<LevelResult>();
const int PostgresPool = 100; // max_connections=200 on the throwaway cluster; the silo needs some of the rest
Console.WriteLine($"Chat.LoadBench: connections {string.Join(",", levels)}, {seconds:0.#} s per measurement after {warmupSeconds:0.#} s warm-up, " +
                  $"{Environment.ProcessorCount} cores; closed loop, one call outstanding per connection");

// Not cancellable: a start abandoned half-way could leave a server running that nobody stops.
var postgres = await LocalPostgresCluster.StartAsync(Path.Combine(Path.GetTempPath(), $"chat-load-{Guid.NewGuid():N}"), durable: true);
StackHost? stack = null;
BaselineHost? baseline = null;
var durability = "";
try
{
    await ChatSchema.MigrateAsync(postgres.ConnectionString, cancellationToken: cancel.Token);
    var pooled = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { MaxPoolSize = PostgresPool }.ConnectionString;
    await using var db = NpgsqlDataSource.Create(pooled);
    durability = await BaselineTable.Durability(db);
    Console.WriteLine($"PostgreSQL {durability}");
    if (!durability.Contains("fsync=on") || !durability.Contains("synchronous_commit=on"))
        throw new InvalidOperationException($"the server does not commit durably: {durability}");
    stack = await StackHost.StartAsync(postgres.ConnectionString, "chat-load-bench", cancel.Token);
    baseline = await BaselineHost.StartAsync(cancel.Token);
    Console.WriteLine($"silo + gateway at {stack.Address}, raw gRPC baseline at {baseline.Address} ({clock.Elapsed.TotalSeconds:0.0} s to start)");

    var ownerIdentity = await stack.Chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: cancel.Token);
    var owner = new Metadata { { "authorization", "Bearer " + ownerIdentity.Token } };
    // The raw PostgreSQL rows hang off a published database, as chat.message's do.
    await Publish("load-pg-baseline");
    var baselineDatabaseId = await Sql.DatabaseId(db, "load-pg-baseline");
    await BaselineTable.Create(db);

    if (warmupSeconds > 0)
    {
        // JIT, first activations, connection pools; not reported, but the stack's rows are verified like the rest.
        var warm = TimeSpan.FromSeconds(warmupSeconds);
        var w = Math.Min(16, levels.Max());
        await RunConnect("load-warmup-connect", w, warm);
        await RunUnary("load-warmup-unary", w, warm);
        await RunPostgres(w, warm);
        await RunGrpcUnary(w, warm);
        await RunGrpcBidi(w, warm);
        var warmProblems = problems.ToList();
        problems.Clear();
        problems.AddRange(warmProblems.Select(p => $"warm-up: {p}"));
        Console.WriteLine($"warm-up done ({clock.Elapsed.TotalSeconds:0.0} s)");
    }

    foreach (var n in levels)
    {
        Console.WriteLine($"-- {n} connections");
        var connect = await RunConnect($"load-connect-{n}", n, duration);
        var unary = await RunUnary($"load-unary-{n}", n, duration);
        var pg = await RunPostgres(n, duration);
        var grpcUnary = await RunGrpcUnary(n, duration);
        var grpcBidi = await RunGrpcBidi(n, duration);
        results.Add(new LevelResult(n, connect, unary, pg, grpcUnary, grpcBidi));
    }

    async Task Publish(string database)
    {
        var reply = await stack.Databases.PublishAsync(new V1.PublishRequest { Database = database, Settings = new V1.DatabaseSettings { MessagesPerSecond = 0 } },
            owner, cancellationToken: cancel.Token);
        _ = reply;
    }

    // send_message over N Connect streams (anonymous, one per connection), one CallReducer outstanding on each.
    async Task<Measured> RunConnect(string database, int n, TimeSpan time)
    {
        await Publish(database);
        var channels = Channels(stack.Address, n);
        var calls = new AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>[n];
        var acks = NewAcks(n);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancel.Token },
                async (i, token) =>
                {
                    var call = calls[i] = new V1.Chat.ChatClient(channels[i / StackHost.StreamsPerChannel])
                        .Connect(new Metadata { { "database", database } }, cancellationToken: cancel.Token);
                    if (!await call.ResponseStream.MoveNext(token) || call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
                        throw new InvalidOperationException($"connection {i}: no IdentityToken first");
                });
            var run = await Load.Drive(n, time, async (w, seq) =>
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
            }, cancel.Token);
            // Goodbye on every stream: its end must come cleanly.
            await Parallel.ForEachAsync(calls, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancel.Token }, async (call, token) =>
            {
                await call.RequestStream.CompleteAsync();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                while (await call.ResponseStream.MoveNext(timeout.Token)) { }
            });
            return await Verified("send over Connect", database, n, run, acks);
        }
        finally
        {
            foreach (var call in calls) call?.Dispose();
            foreach (var channel in channels) channel.Dispose();
        }
    }

    // send_message with the unary SendMessage, N workers (all as the owner), one call outstanding each.
    async Task<Measured> RunUnary(string database, int n, TimeSpan time)
    {
        await Publish(database);
        var channels = Channels(stack.Address, n);
        var clients = Enumerable.Range(0, n).Select(i => new V1.Chat.ChatClient(channels[i / StackHost.StreamsPerChannel])).ToArray();
        var acks = NewAcks(n);
        try
        {
            var run = await Load.Drive(n, time, async (w, seq) =>
            {
                var text = Text(w, seq);
                try
                {
                    var reply = await clients[w].SendMessageAsync(new V1.SendMessageRequest { Database = database, Text = text }, owner);
                    acks[w].Add((reply.MessageOffset, text));
                    return null;
                }
                catch (RpcException e)
                {
                    return $"SendMessage failed: {e.Status}";
                }
            }, cancel.Token);
            return await Verified("send unary", database, n, run, acks);
        }
        finally
        {
            foreach (var channel in channels) channel.Dispose();
        }
    }

    // Raw PostgreSQL: N workers, one autocommit INSERT (one durable commit) per message, at most PostgresPool connections.
    async Task<Measured> RunPostgres(int n, TimeSpan time)
    {
        await BaselineTable.Truncate(db);
        var senders = Enumerable.Range(0, n).Select(_ => System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).ToArray();
        var run = await Load.Drive(n, time, (w, seq) => BaselineTable.Insert(db, baselineDatabaseId, senders[w], Text(w, seq), CancellationToken.None), cancel.Token);
        var issues = Failures("raw PostgreSQL", run);
        var (rows, distinct) = await Sql.CountBaseline(db, baselineDatabaseId);
        if (rows != run.Acked || distinct != run.Acked)
            issues.Add($"raw PostgreSQL: {run.Acked} INSERTs acknowledged but {rows} rows ({distinct} distinct texts) stored");
        return Report($"raw PostgreSQL{(n > PostgresPool ? $" (pool {PostgresPool})" : "")}", n, run, issues);
    }

    async Task<Measured> RunGrpcUnary(int n, TimeSpan time)
    {
        var channels = Channels(baseline.Address, n);
        var clients = Enumerable.Range(0, n).Select(i => new LoadBaseline.LoadBaselineClient(channels[i / StackHost.StreamsPerChannel])).ToArray();
        var empty = new EmptyMessage();
        try
        {
            var run = await Load.Drive(n, time, async (w, _) =>
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
            }, cancel.Token);
            return Report("raw gRPC unary", n, run, Failures("raw gRPC unary", run));
        }
        finally
        {
            foreach (var channel in channels) channel.Dispose();
        }
    }

    async Task<Measured> RunGrpcBidi(int n, TimeSpan time)
    {
        var channels = Channels(baseline.Address, n);
        var calls = new AsyncDuplexStreamingCall<Ping, Ping>[n];
        try
        {
            for (var i = 0; i < n; i++)
                calls[i] = new LoadBaseline.LoadBaselineClient(channels[i / StackHost.StreamsPerChannel]).PingPong(cancellationToken: cancel.Token);
            var run = await Load.Drive(n, time, async (w, seq) =>
            {
                var call = calls[w];
                await call.RequestStream.WriteAsync(new Ping { Id = (uint)seq });
                if (!await call.ResponseStream.MoveNext(CancellationToken.None)) return "the stream ended";
                return call.ResponseStream.Current.Id == (uint)seq ? null : $"pong {call.ResponseStream.Current.Id} for ping {seq}";
            }, cancel.Token);
            foreach (var call in calls)
            {
                await call.RequestStream.CompleteAsync();
                while (await call.ResponseStream.MoveNext(cancel.Token)) { }
            }
            return Report("raw gRPC bidi", n, run, Failures("raw gRPC bidi", run));
        }
        finally
        {
            foreach (var call in calls) call?.Dispose();
            foreach (var channel in channels) channel.Dispose();
        }
    }

    // Every acknowledged message stored exactly once: rows = acks, offsets exactly 1..n, each acked offset's text matches.
    async Task<Measured> Verified(string label, string database, int n, Run run, List<(ulong Offset, string Text)>[] acks)
    {
        var issues = Failures(label, run);
        var stored = await Sql.Messages(db, database);
        var acked = acks.SelectMany(a => a).ToList();
        if (stored.Rows != acked.Count) issues.Add($"{label} {database}: {acked.Count} messages acknowledged but {stored.Rows} rows in chat.message");
        if (stored.Texts.Count != stored.Rows) issues.Add($"{label} {database}: {stored.Rows} rows but {stored.Texts.Count} distinct offsets");
        if (stored.Texts.Count > 0 && (stored.Texts.Keys.Min() != 1 || stored.Texts.Keys.Max() != stored.Texts.Count))
            issues.Add($"{label} {database}: offsets {stored.Texts.Keys.Min()}..{stored.Texts.Keys.Max()} for {stored.Texts.Count} rows (not exactly 1..n)");
        var seen = new HashSet<ulong>();
        var wrong = 0;
        foreach (var (offset, text) in acked)
            if (!seen.Add(offset) || !stored.Texts.TryGetValue((long)offset, out var storedText) || storedText != text)
                if (wrong++ == 0) issues.Add($"{label} {database}: acknowledged offset {offset} ('{text}') is a repeat, missing or holds another text");
        if (wrong > 1) issues.Add($"{label} {database}: {wrong} acknowledged offsets wrong in all");
        if (acked.Count != run.Acked) issues.Add($"{label} {database}: {run.Acked} acks counted but {acked.Count} recorded");
        return Report(label, n, run, issues, verified: issues.Count == 0 ? $"{stored.Rows} rows verified" : "rows WRONG");
    }
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("Cancelled: no results written.");
    return 130;
}
catch (Exception e)
{
    Console.Error.WriteLine($"FAILED: {e}");
    return 1;
}
finally
{
    if (baseline is not null) await baseline.DisposeAsync();
    if (stack is not null) await stack.DisposeAsync();
    await postgres.DestroyAsync();
}

// ---- Report ----------------------------------------------------------------------------------
var md = new StringBuilder();
void Line(string text = "")
{
    Console.WriteLine(text);
    md.AppendLine(text);
}
Console.WriteLine();
md.AppendLine($"# Chat.LoadBench {started:yyyy-MM-dd HH:mm:ss} UTC").AppendLine();
Line($"{Environment.ProcessorCount} cores, {seconds:0.#} s per measurement, closed loop (one call outstanding per connection), PostgreSQL {durability}.");
Line("msg/s = acknowledged durable messages (verified in chat.message) per second; latency = call to acknowledgement, every call, nearest rank.");
Line($"raw PostgreSQL = one autocommit INSERT per message, N workers (at most {PostgresPool} connections); raw gRPC = empty call/round trip, bare server.");
foreach (var (title, pick, grpcName, grpcPick) in new (string, Func<LevelResult, Measured>, string, Func<LevelResult, Measured>)[]
         {
             ("send over Connect (CallReducer send_message)", r => r.Connect, "raw gRPC bidi ping/pong", r => r.GrpcBidi),
             ("send unary (SendMessage)", r => r.Unary, "raw gRPC empty unary", r => r.GrpcUnary),
         })
{
    Line();
    Line($"### {title}");
    Line();
    Line($"| connections | msg/s | p50 ms | p90 ms | p99 ms | max ms | raw PostgreSQL msg/s (p99 ms) | x PostgreSQL | {grpcName} calls/s (p99 ms) | x gRPC |");
    Line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var r in results)
    {
        var m = pick(r);
        var g = grpcPick(r);
        Line($"| {r.Connections} | {m.PerSecond:0} | {m.P50Ms:0.00} | {m.P90Ms:0.00} | {m.P99Ms:0.00} | {m.MaxMs:0.00} | {r.Postgres.PerSecond:0} ({r.Postgres.P99Ms:0.00}) | " +
             $"{m.PerSecond / r.Postgres.PerSecond:0.00}x | {g.PerSecond:0} ({g.P99Ms:0.00}) | {m.PerSecond / g.PerSecond:0.00}x |");
    }
}
Line();
if (results.FirstOrDefault(r => r.Connections == 64) is { } at64)
{
    var rate = at64.Connect.PerSecond;
    var ratio = rate / at64.Postgres.PerSecond;
    var met = rate >= TargetMessagesPerSecond && ratio >= TargetRatio;
    Line($"send over Connect at 64: {rate:0} msg/s (target >= {TargetMessagesPerSecond:N0}{(rate >= TargetMessagesPerSecond ? "" : ", NOT MET")}) and " +
         $"{ratio:0.00}x raw PostgreSQL (target >= {TargetRatio:0}x{(ratio >= TargetRatio ? "" : ", NOT MET")}){(met ? "" : " -- NOT MET")}");
}
else Line("send over Connect at 64: not measured (64 not among --connections)");
if (results.FirstOrDefault(r => r.Connections == 1) is { } at1)
{
    Line($"send at 1 connection: p99 {at1.Connect.P99Ms:0.00} ms over Connect (target < {TargetP99Ms:0} ms{(at1.Connect.P99Ms < TargetP99Ms ? "" : ", NOT MET")}), " +
         $"p99 {at1.Unary.P99Ms:0.00} ms unary (target < {TargetP99Ms:0} ms{(at1.Unary.P99Ms < TargetP99Ms ? "" : ", NOT MET")})");
}
else Line("send at 1 connection: not measured (1 not among --connections)");

var stamp = started.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
var dir = Path.Combine(RepositoryRoot(), "bench", "results");
Directory.CreateDirectory(dir);
var json = Path.Combine(dir, $"load-{stamp}.json");
await File.WriteAllTextAsync(json, JsonSerializer.Serialize(
    new ReportFile(started, Environment.ProcessorCount, seconds, warmupSeconds, durability, PostgresPool, clock.Elapsed.TotalSeconds, results, problems),
    new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // a percentile of no calls is NaN
    }));
var markdown = Path.Combine(dir, $"load-{stamp}.md");
md.AppendLine().AppendLine(problems.Count == 0 ? "Verified: every acknowledged message stored exactly once, offsets 1..n, texts match." : $"FAILED: {problems.Count} problem(s).");
await File.WriteAllTextAsync(markdown, md.ToString());
Console.WriteLine($"\nResults: {json}, {markdown} (total {clock.Elapsed.TotalSeconds:0} s)");

if (problems.Count > 0)
{
    foreach (var p in problems.Take(20)) Console.Error.WriteLine($"!! {p}");
    Console.Error.WriteLine($"FAILED: {problems.Count} problem(s): acknowledged messages missing, repeated or wrong, or calls failed.");
    return 1;
}
Console.WriteLine("Verified: every acknowledged message is in chat.message exactly once (offsets 1..n, texts match); every call succeeded.");
return 0;

List<string> Failures(string label, Run run) =>
    run.Failures == 0 ? [] : [$"{label}: {run.Failures} calls failed, first: {run.FirstError}"];

Measured Report(string label, int n, Run run, List<string> issues, string verified = "")
{
    problems.AddRange(issues.Select(i => $"{n} connections: {i}"));
    var m = Measured.From(run);
    Console.WriteLine($"   {label,-28} {m.PerSecond,9:0}/s  p50 {m.P50Ms,6:0.00}  p90 {m.P90Ms,6:0.00}  p99 {m.P99Ms,6:0.00}  max {m.MaxMs,7:0.00} ms  " +
                      $"({m.Calls} in {m.Seconds:0.00} s) {verified}{(issues.Count == 0 ? "" : $"\n   !! {issues.Count} problem(s): {issues[0]}")}");
    return m;
}

static GrpcChannel[] Channels(string address, int streams) =>
    Enumerable.Range(0, (streams + StackHost.StreamsPerChannel - 1) / StackHost.StreamsPerChannel).Select(_ => GrpcChannel.ForAddress(address)).ToArray();

static List<(ulong Offset, string Text)>[] NewAcks(int n) => Enumerable.Range(0, n).Select(_ => new List<(ulong, string)>()).ToArray();

// Unique per worker and call within a run; short like a chat line.
static string Text(int worker, long seq) => $"load w{worker} #{seq}: hello from the load bench, how is everyone?";

static string RepositoryRoot()
{
    foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Chat.sln")))
                return dir.FullName;
    return Directory.GetCurrentDirectory();
}

internal sealed record LevelResult(int Connections, Measured Connect, Measured Unary, Measured Postgres, Measured GrpcUnary, Measured GrpcBidi);
internal sealed record ReportFile(DateTime StartedUtc, int Cores, double SecondsPerMeasurement, double WarmupSeconds, string Postgres, int PostgresPool,
    double TotalSeconds, List<LevelResult> Levels, List<string> Problems);
