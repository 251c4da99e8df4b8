using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Chat.LoadBench;

/// <summary>
/// A server this benchmark runs as a process of its own (the real stack binary, or its bare gRPC baseline), so that its
/// memory is not mixed with the benchmark's clients. Shared by the connections and noisy-neighbour scenarios.
/// </summary>
public sealed class ServerProcess(ChildProcess child, string address) : IAsyncDisposable
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);
    private static bool _toldNoGc;

    public ChildProcess Child => child;
    public string Address => address;

    public ValueTask DisposeAsync() => child.DisposeAsync();

    /// <summary>SIGTERM, as a deployment stops it; the stack then ends its streams and flushes before it exits.</summary>
    public async Task StopAsync()
    {
        var stopping = Stopwatch.StartNew();
        await child.StopAsync(TimeSpan.FromSeconds(60));
        Console.WriteLine($"{child.Name} process stopped {stopping.Elapsed.TotalSeconds:0.0} s after SIGTERM (exit code {child.ExitCode})");
    }

    /// <summary>After a short wait, a forced full GC in the server process, another short wait, then its VmRSS in KB.</summary>
    public async Task<(bool Forced, long Kb)> SettledRssAsync(CancellationToken cancel)
    {
        await Task.Delay(Settle, cancel);
        var failed = await ProcessMemory.ForceGcAsync(child.Pid, cancel);
        if (failed is not null && !_toldNoGc)
        {
            _toldNoGc = true;
            Console.WriteLine($"   (memory read without a forced GC: {failed})");
        }
        await Task.Delay(Settle, cancel);
        return (failed is null, ProcessMemory.RssKb(child.Pid));
    }

    /// <summary>src/Silo's build output, built first (Release) when absent or older than the sources under src/, or with --build-silo.</summary>
    public static async Task<string> StackBinaryAsync(Bench bench)
    {
        var root = ResultFiles.RepositoryRoot();
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

    /// <summary>
    /// The stack binary on the benchmark's PostgreSQL, free loopback ports, its own data folder and cluster id; every
    /// gateway limit at its default except those in <paramref name="settings"/> (environment variables, <c>__</c> for <c>:</c>).
    /// </summary>
    public static async Task<ServerProcess> StartStackAsync(Bench bench, string dll, string clusterId, IReadOnlyDictionary<string, string> settings)
    {
        var (grpc, http) = (FreePort(), FreePort());
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Chat"] = bench.ConnectionString,
            ["Chat__ClusterId"] = clusterId,
            ["Chat__ServiceId"] = clusterId,
            ["Chat__SiloPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["Chat__GatewayPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["Chat__DataDirectory"] = Path.Combine(bench.RunFolder, clusterId),
            ["Chat__Auth__SigningKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in settings) environment[key] = value;
        var child = ChildProcess.Start("stack", "dotnet", [dll], environment, bench.RunFolder, Path.GetDirectoryName(dll));
        var server = new ServerProcess(child, $"http://127.0.0.1:{grpc}");
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
    public static async Task<ServerProcess> StartBaselineAsync(Bench bench)
    {
        var port = FreePort();
        var self = Environment.ProcessPath ?? "dotnet";
        string[] arguments = Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? [typeof(ServerProcess).Assembly.Location, "--serve-baseline", port.ToString(CultureInfo.InvariantCulture)]
            : ["--serve-baseline", port.ToString(CultureInfo.InvariantCulture)];
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var child = ChildProcess.Start("baseline", self, arguments, new Dictionary<string, string>(), bench.RunFolder);
        child.Line += line =>
        {
            if (line.StartsWith("listening ", StringComparison.Ordinal)) listening.TrySetResult(line["listening ".Length..]);
        };
        var server = new ServerProcess(child, $"http://127.0.0.1:{port}");
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
