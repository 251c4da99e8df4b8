using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Chat.LoadBench.Proto;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>C idle connections held by one side. Memory is the server process's resident set (VmRSS), each read after a forced full GC.</summary>
public sealed record IdleLevel(
    string Side,
    int Connections,
    int Opened,
    double ConnectSeconds,
    double ConnectsPerSecond,
    long RssBeforeKb,
    long RssHeldKb,
    double KbPerConnection,
    long RssAfterCloseKb,
    double CloseSeconds,
    double OfflineSeconds,
    long OnlineWhileHeld,
    long ConnectionRowsWhileHeld,
    bool GcForced,
    List<string> Problems);

public sealed record IdleResult(int Connections, IdleLevel Stack, IdleLevel Baseline);

/// <summary>
/// Scenario 3, connections: C idle anonymous Connect streams held open on the real stack binary (src/Silo, silo + gateway,
/// run as a process of its own so that its memory is not mixed with the benchmark's clients), against C idle bidi streams
/// on the bare gRPC server (this benchmark's <c>--serve-baseline</c> mode, also a process of its own).
/// </summary>
public sealed class ConnectionsScenario(Bench bench)
{
    /// <summary>Connects (and goodbyes) in flight at once.</summary>
    public const int Parallelism = 64;

    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    public async Task<List<IdleResult>> RunAsync()
    {
        var options = bench.Options;
        var clock = Stopwatch.StartNew();
        var most = options.IdleConnections.Max();
        Console.WriteLine($"== connections: {string.Join(", ", options.IdleConnections.Select(c => c.ToString("N0", CultureInfo.InvariantCulture)))} idle streams " +
                          $"({StackHost.StreamsPerChannel} per HTTP/2 connection, {Parallelism} connecting at a time); memory = server process VmRSS after a forced full GC");
        // One socket per 100 streams on each side, plus PostgreSQL's, the silo's and the runtime's own: far below any usual limit.
        var files = ProcessMemory.OpenFilesLimit(Environment.ProcessId);
        var needed = most / StackHost.StreamsPerChannel + 500;
        Console.WriteLine($"open files limit (ulimit -n, inherited by the servers): {files}; about {needed} needed");
        if (files >= 0 && files < needed)
            throw new InvalidOperationException($"the open files limit {files} is too low for {most} connections: raise it with ulimit -n (at least {needed})");

        var silo = await SiloBinary();
        var stack = new List<IdleLevel>();
        await using (var process = await StartStack(silo, most))
        {
            var address = process.Address;
            using var control = GrpcChannel.ForAddress(address);
            var chat = new V1.Chat.ChatClient(control);
            var databases = new V1.Databases.DatabasesClient(control);
            var identity = await chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: bench.Cancel);
            var owner = new Metadata { { "authorization", "Bearer " + identity.Token } };
            Console.WriteLine($"stack process {process.Child.Pid} ({silo}) ready at {address} ({clock.Elapsed.TotalSeconds:0.0} s)");

            // First connections pay for JIT, pools and the first grain activations: not counted.
            await Bench.Publish(databases, owner, "idle-warmup", bench.Cancel);
            await Measure("stack", process, 200, StackOpener("idle-warmup"), "idle-warmup", warmup: true);
            foreach (var n in options.IdleConnections)
            {
                var database = $"idle-{n}";
                await Bench.Publish(databases, owner, database, bench.Cancel);
                stack.Add(await Measure("stack", process, n, StackOpener(database), database));
                if (process.Child.HasExited) throw new InvalidOperationException($"the stack process exited: {process.Child.Output}");
            }
            await Stop(process);
        }

        var baseline = new List<IdleLevel>();
        await using (var process = await StartBaseline())
        {
            Console.WriteLine($"baseline process {process.Child.Pid} ready at {process.Address} ({clock.Elapsed.TotalSeconds:0.0} s)");
            await Measure("baseline", process, 200, BaselineOpener(), null, warmup: true);
            foreach (var n in options.IdleConnections)
                baseline.Add(await Measure("baseline", process, n, BaselineOpener(), null));
            await Stop(process);
        }

        foreach (var level in stack.Concat(baseline))
            bench.Problems.AddRange(level.Problems.Select(p => $"connections {level.Connections}, {level.Side}: {p}"));
        Console.WriteLine($"connections done ({clock.Elapsed.TotalSeconds:0} s)");
        return stack.Zip(baseline, (s, b) => new IdleResult(s.Connections, s, b)).ToList();
    }

    /// <summary>SIGTERM, as a deployment stops it; the stack then ends its streams and flushes before it exits.</summary>
    private static async Task Stop(Server server)
    {
        var stopping = Stopwatch.StartNew();
        await server.Child.StopAsync(TimeSpan.FromSeconds(60));
        Console.WriteLine($"{server.Child.Name} process stopped {stopping.Elapsed.TotalSeconds:0.0} s after SIGTERM (exit code {server.Child.ExitCode})");
    }

    /// <summary>Opens one idle stream and waits for its first message; returns the call, to be completed later.</summary>
    private delegate Task<IdleCall> Opener(GrpcChannel channel, CancellationToken cancel);

    private sealed record IdleCall(Func<Task> Complete, Func<CancellationToken, Task<bool>> MoveNext, IDisposable Call);

    private static Opener StackOpener(string database) => async (channel, cancel) =>
    {
        var call = new V1.Chat.ChatClient(channel).Connect(new Metadata { { "database", database } }, cancellationToken: CancellationToken.None);
        if (!await call.ResponseStream.MoveNext(cancel) || call.ResponseStream.Current.MessageCase != V1.ServerMessage.MessageOneofCase.IdentityToken)
        {
            call.Dispose();
            throw new InvalidOperationException("no IdentityToken first");
        }
        return new IdleCall(() => call.RequestStream.CompleteAsync(), call.ResponseStream.MoveNext, call);
    };

    private static Opener BaselineOpener() => async (channel, cancel) =>
    {
        var call = new LoadBaseline.LoadBaselineClient(channel).Hold(cancellationToken: CancellationToken.None);
        if (!await call.ResponseStream.MoveNext(cancel))
        {
            call.Dispose();
            throw new InvalidOperationException("no hello first");
        }
        return new IdleCall(() => call.RequestStream.CompleteAsync(), call.ResponseStream.MoveNext, call);
    };

    private async Task<IdleLevel> Measure(string side, Server server, int n, Opener open, string? database, bool warmup = false)
    {
        var problems = new List<string>();
        var (gcForced, before) = await SettledRss(server.Child);
        var channels = Bench.Channels(server.Address, n);
        var calls = new IdleCall?[n];
        var failures = 0;
        string? firstFailure = null;
        var opening = Stopwatch.StartNew();
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = bench.Cancel },
                async (i, token) =>
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(60));
                    try
                    {
                        calls[i] = await open(channels[i / StackHost.StreamsPerChannel], timeout.Token);
                    }
                    catch (Exception e) when (e is RpcException or InvalidOperationException || e is OperationCanceledException && !token.IsCancellationRequested)
                    {
                        if (Interlocked.Increment(ref failures) == 1) firstFailure = $"connection {i}: {e.Message}";
                    }
                });
            var connectSeconds = opening.Elapsed.TotalSeconds;
            var opened = n - failures;
            if (failures > 0) problems.Add($"{failures} of {n} connections failed to open, first: {firstFailure}");

            long online = -1, rows = -1;
            if (database is not null)
            {
                (online, rows) = await Presence.Count(bench.Db, database);
                if (online != opened || rows != opened)
                    problems.Add($"{opened} connections open but {online} users online and {rows} rows in chat.connection");
            }
            var (gcHeld, held) = await SettledRss(server.Child);
            if (server.Child.HasExited) problems.Add($"the {side} process exited while the connections were held");

            // Goodbye on every stream: each must end cleanly, with nothing said in between.
            var closing = Stopwatch.StartNew();
            var unclean = 0;
            string? firstUnclean = null;
            await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = bench.Cancel },
                async (i, token) =>
                {
                    if (calls[i] is not { } call) return;
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(60));
                    try
                    {
                        await call.Complete();
                        if (await call.MoveNext(timeout.Token)) throw new InvalidOperationException("a message on an idle stream");
                    }
                    catch (Exception e) when (e is RpcException or InvalidOperationException || e is OperationCanceledException && !token.IsCancellationRequested)
                    {
                        if (Interlocked.Increment(ref unclean) == 1) firstUnclean = $"connection {i}: {e.Message}";
                    }
                });
            var closeSeconds = closing.Elapsed.TotalSeconds;
            if (unclean > 0) problems.Add($"{unclean} of {opened} streams did not end cleanly after the goodbye, first: {firstUnclean}");

            // Every user goes offline (identity_disconnected ran and committed) and every chat.connection row is gone.
            var offlineSeconds = double.NaN;
            if (database is not null)
            {
                while (true)
                {
                    var (stillOnline, stillRows) = await Presence.Count(bench.Db, database);
                    if (stillOnline == 0 && stillRows == 0)
                    {
                        offlineSeconds = closing.Elapsed.TotalSeconds;
                        break;
                    }
                    if (closing.Elapsed > TimeSpan.FromSeconds(60))
                    {
                        problems.Add($"60 s after the goodbyes {stillOnline} users are still online and {stillRows} chat.connection rows left");
                        break;
                    }
                    await Task.Delay(100, bench.Cancel);
                }
            }
            foreach (var call in calls) call?.Call.Dispose();
            foreach (var channel in channels) channel.Dispose();
            var (_, after) = await SettledRss(server.Child);

            var level = new IdleLevel(side, n, opened, connectSeconds, opened / connectSeconds, before, held, (held - before) / (double)Math.Max(1, opened), after,
                closeSeconds, offlineSeconds, online, rows, gcForced && gcHeld, problems);
            if (!warmup) Print(level);
            else if (problems.Count > 0) bench.Problems.AddRange(problems.Select(p => $"connections warm-up, {side}: {p}"));
            return level;
        }
        finally
        {
            foreach (var call in calls) call?.Call.Dispose();
            foreach (var channel in channels) channel.Dispose();
        }
    }

    private bool _toldNoGc;

    /// <summary>After a short wait, a forced full GC in the server process, another short wait, then its VmRSS in KB.</summary>
    private async Task<(bool Forced, long Kb)> SettledRss(ChildProcess server)
    {
        await Task.Delay(Settle, bench.Cancel);
        var failed = await ProcessMemory.ForceGcAsync(server.Pid, bench.Cancel);
        if (failed is not null && !_toldNoGc)
        {
            _toldNoGc = true;
            Console.WriteLine($"   (memory read without a forced GC: {failed})");
        }
        await Task.Delay(Settle, bench.Cancel);
        return (failed is null, ProcessMemory.RssKb(server.Pid));
    }

    private static void Print(IdleLevel l)
    {
        var presence = l.Side == "stack"
            ? $"; {l.OnlineWhileHeld} online, all offline {l.OfflineSeconds:0.0} s after the first goodbye"
            : "";
        Console.WriteLine($"   {l.Side,-8} {l.Opened,6} connected in {l.ConnectSeconds:0.00} s ({l.ConnectsPerSecond:0}/s); RSS {l.RssBeforeKb / 1024.0:0.0} -> " +
                          $"{l.RssHeldKb / 1024.0:0.0} MB = {l.KbPerConnection:0.0} KB per connection{(l.GcForced ? "" : " (GC not forced)")}; " +
                          $"closed in {l.CloseSeconds:0.00} s{presence}; RSS after closing {l.RssAfterCloseKb / 1024.0:0.0} MB" +
                          (l.Problems.Count == 0 ? "" : $"\n   !! {l.Problems.Count} problem(s): {l.Problems[0]}"));
    }

    // ---- The two server processes -------------------------------------------------------------------------------

    private sealed class Server(ChildProcess child, string address) : IAsyncDisposable
    {
        public ChildProcess Child => child;
        public string Address => address;
        public ValueTask DisposeAsync() => child.DisposeAsync();
    }

    /// <summary>src/Silo's build output, built first (Release) when absent or older than the sources under src/, or with --build-silo.</summary>
    private async Task<string> SiloBinary()
    {
        var root = Bench.RepositoryRoot();
        var dll = Path.Combine(root, "src", "Silo", "bin", "Release", "net10.0", "Chat.Silo.dll");
        var built = File.Exists(dll) ? File.GetLastWriteTimeUtc(dll) : DateTime.MinValue;
        var newest = Directory.EnumerateFiles(Path.Combine(root, "src"), "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && (f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal)
                            || f.EndsWith(".proto", StringComparison.Ordinal) || f.EndsWith(".sql", StringComparison.Ordinal)))
            .Select(File.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MinValue).Max();
        var why = !File.Exists(dll) ? "absent" : bench.Options.BuildSilo ? "--build-silo" : newest > built ? "older than the sources" : null;
        if (why is not null)
        {
            Console.WriteLine($"building src/Silo (Release): Chat.Silo.dll {why}");
            var build = Process.Start(new ProcessStartInfo("dotnet", ["build", "-c", "Release", "--nologo", "-v", "q", Path.Combine(root, "src", "Silo")])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            var output = build.StandardOutput.ReadToEndAsync(bench.Cancel);
            var errors = build.StandardError.ReadToEndAsync(bench.Cancel);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(bench.Cancel);
            timeout.CancelAfter(TimeSpan.FromMinutes(5));
            try { await build.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException)
            {
                build.Kill(entireProcessTree: true);
                throw;
            }
            if (build.ExitCode != 0)
            {
                var tail = string.Join("\n", ((await output) + (await errors)).Split('\n').TakeLast(15));
                if (!File.Exists(dll)) throw new InvalidOperationException($"dotnet build src/Silo failed:\n{tail}");
                Console.WriteLine($"dotnet build src/Silo failed; measuring the existing build of {built:yyyy-MM-dd HH:mm} UTC:\n{tail}");
            }
            built = File.GetLastWriteTimeUtc(dll);
        }
        Console.WriteLine($"stack binary: {dll}, built {built:yyyy-MM-dd HH:mm:ss} UTC");
        return dll;
    }

    /// <summary>The stack binary on the benchmark's PostgreSQL, free loopback ports, its own data folder, limits raised for <paramref name="most"/> connections.</summary>
    private async Task<Server> StartStack(string dll, int most)
    {
        var (grpc, http) = (FreePort(), FreePort());
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Chat"] = bench.ConnectionString,
            ["Chat__ClusterId"] = "chat-load-connections",
            ["Chat__ServiceId"] = "chat-load-connections",
            ["Chat__SiloPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["Chat__GatewayPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["Chat__DataDirectory"] = Path.Combine(bench.RunFolder, "stack"),
            ["Chat__Auth__SigningKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            // The default is 10,000 connections per gateway: room for the most this run holds, plus the control calls.
            ["Chat__Gateway__MaxConnections"] = Math.Max(10_000, 2 * most).ToString(CultureInfo.InvariantCulture),
            // All of them from 127.0.0.1, one client address, each a new identity: lift the per-address limits.
            ["Chat__Gateway__MaxConnectionsPerAddress"] = "1000000",
            ["Chat__Gateway__IdentitiesPerMinutePerAddress"] = "1000000",
            ["Chat__Gateway__MaxSqlQueriesPerAddress"] = "1000000",
            ["Chat__Gateway__IdentityBurstPerAddress"] = "1000000",
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        var child = ChildProcess.Start("stack", "dotnet", [dll], environment, bench.RunFolder, Path.GetDirectoryName(dll));
        var server = new Server(child, $"http://127.0.0.1:{grpc}");
        try
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            var clock = Stopwatch.StartNew();
            while (true)
            {
                if (child.HasExited) throw new InvalidOperationException($"the stack process exited before it was ready:\n{child.Output}");
                try
                {
                    if ((await client.GetAsync($"http://127.0.0.1:{http}/readyz", bench.Cancel)).IsSuccessStatusCode) break;
                }
                catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException && !bench.Cancel.IsCancellationRequested) { }
                if (clock.Elapsed > TimeSpan.FromSeconds(90)) throw new InvalidOperationException($"the stack process was not ready within 90 s:\n{child.Output}");
                await Task.Delay(200, bench.Cancel);
            }
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>This benchmark's own executable in <c>--serve-baseline</c> mode, on a free loopback port.</summary>
    private async Task<Server> StartBaseline()
    {
        var port = FreePort();
        var self = Environment.ProcessPath ?? "dotnet";
        string[] arguments = Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? [typeof(ConnectionsScenario).Assembly.Location, "--serve-baseline", port.ToString(CultureInfo.InvariantCulture)]
            : ["--serve-baseline", port.ToString(CultureInfo.InvariantCulture)];
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var child = ChildProcess.Start("baseline", self, arguments, new Dictionary<string, string>(), bench.RunFolder);
        child.Line += line =>
        {
            if (line.StartsWith("listening ", StringComparison.Ordinal)) listening.TrySetResult(line["listening ".Length..]);
        };
        var server = new Server(child, $"http://127.0.0.1:{port}");
        try
        {
            await listening.Task.WaitAsync(TimeSpan.FromSeconds(60), bench.Cancel);
            return server;
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            throw new InvalidOperationException($"the baseline process did not start listening within 60 s:\n{child.Output}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
