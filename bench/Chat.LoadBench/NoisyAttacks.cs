using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>How an attack's calls ended, counted by what and gRPC status (RESOURCE_EXHAUSTED, ...), with the first detail of each.</summary>
public sealed partial class Outcomes
{
    private readonly ConcurrentDictionary<string, long> _counts = new();
    private readonly ConcurrentDictionary<string, string> _examples = new();

    public void Add(string what, StatusCode code, string? detail = null) => Add($"{what} {Name(code)}", detail);

    public void Add(string label, string? detail = null)
    {
        _counts.AddOrUpdate(label, 1, (_, n) => n + 1);
        if (!string.IsNullOrEmpty(detail)) _examples.TryAdd(label, detail.Length > 300 ? detail[..300] + "…" : detail);
    }

    public long Count(string label) => _counts.GetValueOrDefault(label);

    public SortedDictionary<string, long> Counts => new(_counts);
    public SortedDictionary<string, string> Examples => new(_examples);

    /// <summary>The status as gRPC spells it: RESOURCE_EXHAUSTED, NOT_FOUND, OK.</summary>
    public static string Name(StatusCode code) => code == StatusCode.OK ? "OK" : Words().Replace(code.ToString(), "_").ToUpperInvariant();

    [GeneratedRegex("(?<=[a-z])(?=[A-Z])")]
    private static partial Regex Words();
}

/// <summary>What every attack gets: where to reach the stack, from which client address, as whom, on which databases, until when.</summary>
public sealed class AttackRun(string address, IPAddress source, Metadata owner, NoisyDatabases databases, bool quick, string tag, CancellationToken stop)
{
    private readonly List<GrpcChannel> _channels = [];

    public IPAddress Source => source;
    public Metadata Owner => owner;
    public NoisyDatabases Databases => databases;
    public bool Quick => quick;
    public string Tag => tag;

    /// <summary>Cancelled when the phase ends: every attack stops then, if its own count has not stopped it first.</summary>
    public CancellationToken Stop => stop;

    public Outcomes Outcomes { get; } = new();

    /// <summary>
    /// A channel whose connections leave from <see cref="Source"/> (a loopback address other than the victim's 127.0.0.1:
    /// Linux routes all of 127.0.0.0/8 to lo), so that the gateway's per-address limits see the attacker as its own address.
    /// HTTP/2 connections are opened as streams need them (100 streams each). Disposed when the attack ends.
    /// </summary>
    public V1.Chat.ChatClient Chat(int maxReceiveBytes = 4 * 1024 * 1024)
    {
        var channel = SourceChannel(address, source, maxReceiveBytes);
        lock (_channels) _channels.Add(channel);
        return new V1.Chat.ChatClient(channel);
    }

    public static GrpcChannel SourceChannel(string address, IPAddress source, int maxReceiveBytes = 4 * 1024 * 1024) =>
        GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = maxReceiveBytes,
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                ConnectCallback = async (context, cancel) =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        socket.Bind(new IPEndPoint(source, 0));
                        await socket.ConnectAsync(context.DnsEndPoint, cancel);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            },
            DisposeHttpClient = true,
        });

    /// <summary>Connect metadata for <paramref name="database"/>, as the attacker's owner identity unless <paramref name="caller"/> says otherwise.</summary>
    public Metadata On(string database, Metadata? caller = null)
    {
        var headers = new Metadata { { "database", database } };
        foreach (var entry in caller ?? owner) headers.Add(entry);
        return headers;
    }

    /// <summary>
    /// Whatever a call in progress throws once the phase has ended (cancelled, the call already complete, the connection
    /// gone): the attack was told to stop, and stops.
    /// </summary>
    public bool Stopped(Exception e) =>
        stop.IsCancellationRequested && e is OperationCanceledException or RpcException or InvalidOperationException or IOException;

    /// <summary>Waits until the phase ends.</summary>
    public async Task HoldAsync()
    {
        try { await Task.Delay(Timeout.Infinite, stop); }
        catch (OperationCanceledException) { }
    }

    public void DisposeChannels()
    {
        lock (_channels)
        {
            foreach (var channel in _channels) channel.Dispose();
            _channels.Clear();
        }
    }
}

/// <summary>The victim's database and the attacker's own ones, made before the first phase.</summary>
public sealed record NoisyDatabases(string Victim, string Subscriptions, string Stalled, string Sql);

/// <summary>One hostile client of issue 12: bounded in count and time, loopback only, stopping by itself at the end of its phase.</summary>
public sealed record Attack(string Name, string Description, Func<AttackRun, Task<string>> RunAsync);

/// <summary>The seven attacks. Each returns a line saying what it did; its calls' outcomes are in <see cref="AttackRun.Outcomes"/>.</summary>
public static class NoisyAttacks
{
    public static readonly string[] Names = ["subscriptions", "stalled", "connect-flood", "sql", "rate-bypass", "unknown-names", "logs-follow"];

    /// <summary>Rows in the attacker's SQL database, seeded before the first phase.</summary>
    public static int SqlRows(bool quick) => quick ? 3000 : 5000;

    public const int SqlRowText = 1000;

    public static Attack[] All(bool quick)
    {
        var sets = quick ? 500 : 2000;
        var consumers = quick ? 4 : 8;
        var connects = quick ? 3000 : 10_000;
        var identities = quick ? 300 : 1000;
        var unknown = quick ? 5000 : 30_000;
        var followers = quick ? 300 : 1000;
        return
        [
            new("subscriptions", $"{sets:N0} subscription sets of {SubscriptionQueries} non-matching {SubscriptionText:N0}-char queries on one connection to its own database, and as many on one to the victim's",
                run => Subscriptions(run, sets)),
            new("stalled", $"{consumers} consumers subscribe to their own database and never read, while it is flooded at {FloodRate:N0} msg/s of {FloodText:N0} chars",
                run => Stalled(run, consumers)),
            new("connect-flood", $"{connects:N0} token-less Connects to the victim's database, {Parallel} at a time, the accepted ones held", run => ConnectFlood(run, connects)),
            new("sql", $"{SqlWorkers} concurrent heavy queries (3- and 2-way self-joins, row-capped huge results) on its own {SqlRows(quick):N0}-row database",
                run => Sql(run)),
            new("rate-bypass", $"CreateIdentity in a loop ({identities:N0} tries); every new identity connects to the victim's database and alternates send_message and set_name",
                run => RateBypass(run, identities)),
            new("unknown-names", $"SendMessage to {unknown:N0} database names that do not exist, {Parallel} at a time", run => UnknownNames(run, unknown)),
            new("logs-follow", $"{followers:N0} Logs follow streams on its own database", run => LogsFollow(run, followers)),
        ];
    }

    private const int Parallel = 64;
    private const int SubscriptionQueries = 4;
    private const int SubscriptionText = 9000;
    private const double FloodRate = 1000;
    private const int FloodText = 1000;
    private const int SqlWorkers = 8;

    // ---- 1. subscriptions ---------------------------------------------------------------------------------------

    private static async Task<string> Subscriptions(AttackRun run, int sets)
    {
        // A string literal holds at most 4,096 characters (SqlQuery.MaxStringLength) and a query 10,000: three literals make a query of about 9,000.
        var (filler, tail) = (new string('x', 3990), new string('y', SubscriptionText - 2 * 4000 - 100));
        var own = Task.Run(() => SubscriptionSets(run, run.Databases.Subscriptions, "own db", sets, filler, tail), CancellationToken.None);
        var victim = Task.Run(() => SubscriptionSets(run, run.Databases.Victim, "victim db", sets, filler, tail), CancellationToken.None);
        var (o, v) = (await own, await victim);
        return $"registered {o:N0} of {sets:N0} sets on its own database and {v:N0} of {sets:N0} on the victim's";
    }

    /// <summary>Subscribe after Subscribe on one stream (a few outstanding), each answered by SubscribeApplied or SubscriptionError; held until the phase ends.</summary>
    private static async Task<int> SubscriptionSets(AttackRun run, string database, string label, int sets, string filler, string tail)
    {
        var applied = 0;
        using var call = run.Chat().Connect(run.On(database), cancellationToken: run.Stop);
        try
        {
            if (!await call.ResponseStream.MoveNext(run.Stop)) return 0;
            var window = new SemaphoreSlim(8);
            var answered = 0;
            var allAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reading = Task.Run(async () =>
            {
                try
                {
                    while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    {
                        var message = call.ResponseStream.Current;
                        if (message.MessageCase == V1.ServerMessage.MessageOneofCase.SubscribeApplied && !message.SubscribeApplied.Last) continue;
                        if (message.MessageCase == V1.ServerMessage.MessageOneofCase.SubscribeApplied) Interlocked.Increment(ref applied);
                        if (message.MessageCase == V1.ServerMessage.MessageOneofCase.SubscriptionError)
                            run.Outcomes.Add($"{label} Subscribe: SubscriptionError", message.SubscriptionError.Error);
                        else if (message.MessageCase == V1.ServerMessage.MessageOneofCase.SubscribeApplied) run.Outcomes.Add($"{label} Subscribe: applied");
                        else continue; // the victim's messages, on its database: the sets match none of them
                        window.Release();
                        if (Interlocked.Increment(ref answered) == sets) allAnswered.TrySetResult();
                    }
                    allAnswered.TrySetResult();
                }
                catch (RpcException e)
                {
                    if (!run.Stop.IsCancellationRequested) run.Outcomes.Add($"{label} stream ended", e.StatusCode, e.Status.Detail);
                    allAnswered.TrySetResult();
                }
            }, CancellationToken.None);
            for (var r = 1; r <= sets && !allAnswered.Task.IsCompleted; r++)
            {
                await window.WaitAsync(run.Stop);
                var subscribe = new V1.Subscribe { RequestId = (uint)r };
                for (var q = 0; q < SubscriptionQueries; q++)
                    subscribe.Queries.Add($"SELECT * FROM Message WHERE text = '{r:D6}-{q} {filler}' OR text = '{r:D6}-{q} {filler}z' OR text = '{tail}'");
                await call.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = subscribe }, run.Stop);
            }
            await allAnswered.Task.WaitAsync(run.Stop);
            await run.HoldAsync();
        }
        catch (Exception e) when (run.Stopped(e)) { }
        catch (RpcException e) when (!run.Stop.IsCancellationRequested)
        {
            run.Outcomes.Add($"{label} stream ended", e.StatusCode, e.Status.Detail);
        }
        catch (RpcException) { }
        return applied;
    }

    // ---- 2. stalled consumer -------------------------------------------------------------------------------------

    private static async Task<string> Stalled(AttackRun run, int consumers)
    {
        var database = run.Databases.Stalled;
        // The stalled ones on a channel of their own: the flooders' acknowledgements must not wait behind their full windows.
        var stalledChat = run.Chat();
        var stalled = new List<AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>>();
        using var cut = new CancellationTokenSource();
        try
        {
            for (var c = 0; c < consumers; c++)
            {
                var call = stalledChat.Connect(run.On(database), cancellationToken: cut.Token);
                stalled.Add(call);
                if (!await call.ResponseStream.MoveNext(run.Stop)) continue;
                await call.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = new V1.Subscribe { RequestId = 1, Queries = { "SELECT * FROM Message" } } }, run.Stop);
                // ...and never reads again.
            }

            var flood = run.Chat();
            var senders = Enumerable.Range(0, 2).Select(s => Task.Run(() => Flood(run, flood, database, s, FloodRate / 2), CancellationToken.None)).ToArray();
            var sent = (await Task.WhenAll(senders)).Sum();

            // How did each stalled stream end? Read what it has (bounded): an evicted one ends with its status after its last message.
            var ends = await Task.WhenAll(stalled.Select(async call =>
            {
                using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    while (await call.ResponseStream.MoveNext(drain.Token)) { }
                    return "ended OK";
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && drain.IsCancellationRequested) { return "still open"; }
                catch (OperationCanceledException) { return "still open"; }
                catch (RpcException e)
                {
                    run.Outcomes.Add("stalled consumer", e.StatusCode, e.Status.Detail);
                    return Outcomes.Name(e.StatusCode);
                }
            }));
            foreach (var open in ends.Where(e => e is "still open" or "ended OK")) run.Outcomes.Add($"stalled consumer {open}");
            return $"flooded {sent:N0} messages; stalled consumers: {string.Join(", ", ends.GroupBy(e => e).Select(g => $"{g.Count()} {g.Key}"))}";
        }
        catch (Exception e) when (run.Stopped(e))
        {
            return "stopped before the flood began";
        }
        finally
        {
            cut.Cancel();
            foreach (var call in stalled) call.Dispose();
        }
    }

    /// <summary>send_message at a fixed rate on one stream, up to 64 outstanding, until the phase ends; returns how many were written.</summary>
    private static async Task<int> Flood(AttackRun run, V1.Chat.ChatClient chat, string database, int index, double rate)
    {
        using var call = chat.Connect(run.On(database), cancellationToken: run.Stop);
        var window = new SemaphoreSlim(64);
        var text = JsonSerializer.Serialize(new[] { new string((char)('a' + index), FloodText) });
        var written = 0;
        try
        {
            if (!await call.ResponseStream.MoveNext(run.Stop)) return 0;
            var reading = Task.Run(async () =>
            {
                try
                {
                    while (await call.ResponseStream.MoveNext(CancellationToken.None))
                        if (call.ResponseStream.Current.ReducerResult is { } result)
                        {
                            run.Outcomes.Add("flood send_message", (StatusCode)result.Outcome.Code, result.Outcome.Error);
                            window.Release();
                        }
                }
                catch (RpcException) { }
            }, CancellationToken.None);
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; ; i++)
            {
                var wait = start + (long)(i * Stopwatch.Frequency / rate) - Stopwatch.GetTimestamp();
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), run.Stop);
                await window.WaitAsync(run.Stop);
                await call.RequestStream.WriteAsync(new V1.ClientMessage
                {
                    CallReducer = new V1.CallReducer { RequestId = (uint)i + 1, Reducer = "send_message", ArgsJson = text },
                }, run.Stop);
                written++;
            }
        }
        catch (Exception e) when (run.Stopped(e)) { }
        catch (RpcException e) when (!run.Stop.IsCancellationRequested)
        {
            run.Outcomes.Add("flood stream ended", e.StatusCode, e.Status.Detail);
        }
        catch (RpcException) { }
        return written;
    }

    // ---- 3. anonymous Connect flood ------------------------------------------------------------------------------

    private static async Task<string> ConnectFlood(AttackRun run, int attempts)
    {
        var chat = run.Chat();
        var held = new ConcurrentBag<AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>>();
        var tried = 0;
        try
        {
            await System.Threading.Tasks.Parallel.ForEachAsync(Enumerable.Range(0, attempts), new ParallelOptions { MaxDegreeOfParallelism = Parallel, CancellationToken = run.Stop },
                async (_, token) =>
                {
                    Interlocked.Increment(ref tried);
                    // No token: each accepted one is a new identity (and a new user row in the victim's database).
                    var call = chat.Connect(new Metadata { { "database", run.Databases.Victim } }, cancellationToken: run.Stop);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(30));
                    try
                    {
                        if (await call.ResponseStream.MoveNext(timeout.Token) && call.ResponseStream.Current.IdentityToken is not null)
                        {
                            run.Outcomes.Add("Connect", StatusCode.OK);
                            held.Add(call);
                            return;
                        }
                        run.Outcomes.Add("Connect ended without an identity");
                    }
                    catch (RpcException e) when (!token.IsCancellationRequested)
                    {
                        run.Outcomes.Add("Connect", e.StatusCode, e.Status.Detail);
                    }
                    catch (Exception e) when (e is RpcException or OperationCanceledException) { }
                    call.Dispose();
                });
            await run.HoldAsync();
        }
        catch (Exception e) when (run.Stopped(e)) { }
        finally
        {
            foreach (var call in held) call.Dispose();
        }
        return $"tried {tried:N0} Connects, held {held.Count:N0} until the phase ended";
    }

    // ---- 4. SQL cost -----------------------------------------------------------------------------------------------

    private static readonly string[] HeavyQueries =
    [
        "SELECT COUNT(*) FROM Message a JOIN Message b ON a.sender = b.sender JOIN Message c ON b.sender = c.sender",
        "SELECT * FROM Message a JOIN Message b ON a.sender = b.sender",
        "SELECT COUNT(*) FROM Message a JOIN Message b ON a.sender = b.sender",
        "SELECT * FROM Message",
    ];

    private static async Task<string> Sql(AttackRun run)
    {
        // Huge results are the point of some of these queries: the client takes up to 256 MB.
        var chat = run.Chat(256 * 1024 * 1024);
        var bytes = 0L;
        await Task.WhenAll(Enumerable.Range(0, SqlWorkers).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < w + 500 && !run.Stop.IsCancellationRequested; i++)
            {
                var query = HeavyQueries[i % HeavyQueries.Length];
                var kind = query.Contains("JOIN Message c", StringComparison.Ordinal) ? "3-way join count"
                    : query.StartsWith("SELECT COUNT", StringComparison.Ordinal) ? "2-way join count"
                    : query.Contains("JOIN", StringComparison.Ordinal) ? "2-way join rows" : "all rows";
                try
                {
                    var answer = await chat.SqlAsync(new V1.SqlRequest { Database = run.Databases.Sql, Query = query }, run.Owner, cancellationToken: run.Stop);
                    Interlocked.Add(ref bytes, answer.CalculateSize());
                    run.Outcomes.Add($"Sql {kind} {(answer.Truncated ? "OK (row cap)" : "OK")}");
                }
                catch (RpcException e) when (!run.Stop.IsCancellationRequested)
                {
                    run.Outcomes.Add($"Sql {kind}", e.StatusCode, e.Status.Detail);
                }
                catch (RpcException) { }
            }
        }, CancellationToken.None)));
        return $"{SqlWorkers} workers, {bytes / 1e6:0} MB of results taken";
    }

    // ---- 5. rate-limit bypass ----------------------------------------------------------------------------------------

    private static async Task<string> RateBypass(AttackRun run, int attempts)
    {
        var chat = run.Chat();
        var bots = new List<Task>();
        var made = 0;
        for (var i = 0; i < attempts && !run.Stop.IsCancellationRequested; i++)
        {
            try
            {
                var identity = await chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: run.Stop);
                run.Outcomes.Add("CreateIdentity", StatusCode.OK);
                var number = ++made;
                bots.Add(Task.Run(() => Bot(run, chat, identity.Token, number), CancellationToken.None));
            }
            catch (RpcException e) when (!run.Stop.IsCancellationRequested)
            {
                run.Outcomes.Add("CreateIdentity", e.StatusCode, e.Status.Detail);
            }
            catch (RpcException) { }
            catch (OperationCanceledException) { }
        }
        await Task.WhenAll(bots);
        return $"{made:N0} identities made of {attempts:N0} tries, each sending and renaming on the victim's database";
    }

    /// <summary>A fresh identity on the victim's database: send_message and set_name alternately, up to 16 outstanding, 400 calls at most.</summary>
    private static async Task Bot(AttackRun run, V1.Chat.ChatClient chat, string token, int number)
    {
        using var call = chat.Connect(run.On(run.Databases.Victim, new Metadata { { "authorization", "Bearer " + token } }), cancellationToken: run.Stop);
        var window = new SemaphoreSlim(16);
        try
        {
            if (!await call.ResponseStream.MoveNext(run.Stop)) return;
            var reading = Task.Run(async () =>
            {
                try
                {
                    while (await call.ResponseStream.MoveNext(CancellationToken.None))
                        if (call.ResponseStream.Current.ReducerResult is { } result)
                        {
                            run.Outcomes.Add(result.Reducer, (StatusCode)result.Outcome.Code, result.Outcome.Error);
                            window.Release();
                        }
                }
                catch (RpcException) { }
            }, CancellationToken.None);
            for (var i = 0; i < 400; i++)
            {
                await window.WaitAsync(run.Stop);
                var (reducer, argument) = i % 2 == 0 ? ("send_message", $"bot {number} says hello #{i}") : ("set_name", $"bot-{number}-{i}");
                await call.RequestStream.WriteAsync(new V1.ClientMessage
                {
                    CallReducer = new V1.CallReducer { RequestId = (uint)i + 1, Reducer = reducer, ArgsJson = JsonSerializer.Serialize(new[] { argument }) },
                }, run.Stop);
            }
            await call.RequestStream.CompleteAsync();
            await reading.WaitAsync(run.Stop);
        }
        catch (Exception e) when (run.Stopped(e)) { }
        catch (RpcException e) when (!run.Stop.IsCancellationRequested)
        {
            run.Outcomes.Add("bot stream ended", e.StatusCode, e.Status.Detail);
        }
        catch (RpcException) { }
    }

    // ---- 6. unknown database names -----------------------------------------------------------------------------------

    private static async Task<string> UnknownNames(AttackRun run, int names)
    {
        var chat = run.Chat();
        var tried = 0;
        try
        {
            await System.Threading.Tasks.Parallel.ForEachAsync(Enumerable.Range(0, names), new ParallelOptions { MaxDegreeOfParallelism = Parallel, CancellationToken = run.Stop },
                async (i, token) =>
                {
                    Interlocked.Increment(ref tried);
                    try
                    {
                        await chat.SendMessageAsync(new V1.SendMessageRequest { Database = $"ghost-{run.Tag}-{i}", Text = "anyone there?" }, run.Owner, cancellationToken: token);
                        run.Outcomes.Add("SendMessage", StatusCode.OK);
                    }
                    catch (RpcException e) when (!token.IsCancellationRequested)
                    {
                        run.Outcomes.Add("SendMessage", e.StatusCode, e.Status.Detail);
                    }
                });
        }
        catch (Exception e) when (run.Stopped(e)) { }
        return $"{tried:N0} of {names:N0} names tried";
    }

    // ---- 7. Logs follow -------------------------------------------------------------------------------------------------

    private static async Task<string> LogsFollow(AttackRun run, int followers)
    {
        var chat = run.Chat();
        var calls = new ConcurrentBag<AsyncServerStreamingCall<V1.LogRecord>>();
        var reading = new ConcurrentBag<Task>();
        var records = 0L;
        try
        {
            await System.Threading.Tasks.Parallel.ForEachAsync(Enumerable.Range(0, followers), new ParallelOptions { MaxDegreeOfParallelism = Parallel, CancellationToken = run.Stop },
                async (_, token) =>
                {
                    var call = chat.Logs(new V1.LogsRequest { Database = run.Databases.Sql, NumLines = 1, Follow = true }, run.Owner, cancellationToken: run.Stop);
                    calls.Add(call);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(30));
                    try
                    {
                        if (!await call.ResponseStream.MoveNext(timeout.Token))
                        {
                            run.Outcomes.Add("Logs ended at once");
                            return;
                        }
                        run.Outcomes.Add("Logs follow", StatusCode.OK);
                        Interlocked.Increment(ref records);
                        reading.Add(Task.Run(async () =>
                        {
                            try
                            {
                                while (await call.ResponseStream.MoveNext(CancellationToken.None)) Interlocked.Increment(ref records);
                            }
                            catch (RpcException e) when (!run.Stop.IsCancellationRequested)
                            {
                                run.Outcomes.Add("Logs follow ended", e.StatusCode, e.Status.Detail);
                            }
                            catch (RpcException) { }
                        }, CancellationToken.None));
                    }
                    catch (RpcException e) when (!token.IsCancellationRequested)
                    {
                        run.Outcomes.Add("Logs follow", e.StatusCode, e.Status.Detail);
                    }
                });
            await run.HoldAsync();
        }
        catch (Exception e) when (run.Stopped(e)) { }
        finally
        {
            foreach (var call in calls) call.Dispose();
        }
        try { await Task.WhenAll(reading).WaitAsync(TimeSpan.FromSeconds(10)); }
        catch (TimeoutException) { }
        return $"{run.Outcomes.Count("Logs follow OK"):N0} of {followers:N0} followers opened, {Interlocked.Read(ref records):N0} records streamed to them";
    }

    /// <summary>Fills the attacker's SQL database (rate limit off, its owner's choice) before the first phase: these rows make the joins heavy.</summary>
    public static async Task SeedAsync(string address, IPAddress source, Metadata owner, string database, int first, int rows, CancellationToken cancel)
    {
        using var channel = AttackRun.SourceChannel(address, source);
        var headers = new Metadata { { "database", database } };
        foreach (var entry in owner) headers.Add(entry);
        using var call = new V1.Chat.ChatClient(channel).Connect(headers, cancellationToken: cancel);
        if (!await call.ResponseStream.MoveNext(cancel)) throw new InvalidOperationException("seeding: no IdentityToken");
        var window = new SemaphoreSlim(64);
        var acked = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.Run(async () =>
        {
            try
            {
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    if (call.ResponseStream.Current.ReducerResult is not { } result) continue;
                    if (result.Outcome.Code != 0) done.TrySetException(new InvalidOperationException($"seeding: send_message failed: {result.Outcome.Error}"));
                    window.Release();
                    if (++acked == rows) done.TrySetResult();
                }
                done.TrySetException(new InvalidOperationException($"seeding: the stream ended after {acked} of {rows}"));
            }
            catch (RpcException e)
            {
                done.TrySetException(new InvalidOperationException($"seeding: the stream failed after {acked} of {rows}: {e.Status}"));
            }
        }, CancellationToken.None);
        for (var i = 0; i < rows; i++)
        {
            await window.WaitAsync(cancel);
            var text = $"{(first + i).ToString("D6", CultureInfo.InvariantCulture)} " + new string('s', SqlRowText - 7);
            await call.RequestStream.WriteAsync(new V1.ClientMessage
            {
                CallReducer = new V1.CallReducer { RequestId = (uint)i + 1, Reducer = "send_message", ArgsJson = JsonSerializer.Serialize(new[] { text }) },
            }, cancel);
        }
        await done.Task.WaitAsync(TimeSpan.FromMinutes(2), cancel);
        await call.RequestStream.CompleteAsync();
        await reading.WaitAsync(TimeSpan.FromSeconds(30), cancel);
    }
}
