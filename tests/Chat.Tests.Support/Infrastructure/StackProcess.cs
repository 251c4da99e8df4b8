using System.Globalization;
using Chat.Frontend.Delivery;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Chat.Tests.Infrastructure;

/// <summary>The real stack binary (silo + co-hosted gateway) in a process of its own, on free loopback ports.</summary>
public sealed class StackProcess : IDisposable
{
    private readonly Process _process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

    public int GrpcPort { get; }
    public int HttpPort { get; }
    public string GrpcAddress => $"http://127.0.0.1:{GrpcPort}";
    public string HttpAddress => $"http://127.0.0.1:{HttpPort}";
    public bool HasExited => _process.HasExited;

    /// <summary>What the process has printed so far, standard output and error together.</summary>
    public string Output => string.Join('\n', _output);

    private StackProcess(Process process, int grpcPort, int httpPort) => (_process, GrpcPort, HttpPort) = (process, grpcPort, httpPort);

    /// <param name="ports">The gRPC and HTTP ports to listen on; new free ones when null (a restart passes the old ones, so clients find it again).</param>
    public static StackProcess Start(string connectionString, string clusterId, string serviceId, IDictionary<string, string>? extra = null, (int Grpc, int Http)? ports = null)
    {
        var (grpc, http) = ports ?? (FreePort(), FreePort());
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Chat.Silo.dll")])
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Chat"] = connectionString,
            ["Chat__Cluster__Certificate"] = TestClusterCredentials.File,
            ["Chat__ClusterId"] = clusterId,
            ["Chat__ServiceId"] = serviceId,
            ["Chat__SiloPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["Chat__GatewayPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["Chat__Auth__SigningKey"] = TestGateway.SigningKey,
            ["Chat__Gateway__HeartbeatInterval"] = "00:00:01",
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        // The tests' clients all come from 127.0.0.1, one client address, and make identities freely.
        foreach (var (key, value) in GatewayOptions.AsEnvironment(GatewayOptions.AddressLimitsLifted)) environment[key] = value;
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) environment[key] = value;
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var process = Process.Start(start)!;
        var stack = new StackProcess(process, grpc, http);
        process.OutputDataReceived += (_, line) => { if (line.Data is not null) stack._output.Enqueue(line.Data); };
        process.ErrorDataReceived += (_, line) => { if (line.Data is not null) stack._output.Enqueue(line.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return stack;
    }

    /// <summary>Waits for the process to exit and returns its exit code; fails if it becomes ready instead, or neither happens in time.</summary>
    public async Task<int> WaitForExitInsteadOfReadyAsync(int seconds = 90)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        var clock = Stopwatch.StartNew();
        while (!_process.HasExited)
        {
            try
            {
                if ((await http.GetAsync($"{HttpAddress}/readyz")).IsSuccessStatusCode)
                    Assert.Fail($"the stack started and is ready, where it should have refused to start. Its output:\n{Output}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(seconds), $"the stack neither exited nor became ready within {seconds} s");
            await Task.Delay(200);
        }
        await _process.WaitForExitAsync(); // and its output is all read
        return _process.ExitCode;
    }

    /// <summary>Polls <c>/readyz</c> until it answers 200, within a bounded time.</summary>
    public async Task WaitUntilReadyAsync(int seconds = 90)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(_process.HasExited, $"the stack exited with code {(_process.HasExited ? _process.ExitCode : 0)} before it was ready");
            try
            {
                if ((await http.GetAsync($"{HttpAddress}/readyz")).IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(seconds), $"the stack was not ready within {seconds} s");
            await Task.Delay(200);
        }
    }

    /// <summary>Stops the stack as Ctrl+C does (SIGTERM: streams end, users go offline), bounded; killed if it does not exit.</summary>
    public async Task StopAsync(int seconds = 60)
    {
        if (_process.HasExited) return;
        using (var signal = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])) await signal.WaitForExitAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    /// <summary>
    /// A port nothing listens on now, never the same one twice in this test run (two stacks given one port would share
    /// it: see src/Silo/PortCheck.cs), and below the ephemeral range, so no client connection holds it when a stack binds.
    /// </summary>
    public static int FreePort() => Chat.Development.LoopbackPorts.Free();
}
