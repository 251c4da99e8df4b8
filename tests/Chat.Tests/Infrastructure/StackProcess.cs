using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Chat.Tests.Infrastructure;

/// <summary>The real stack binary (silo + co-hosted gateway) in a process of its own, on free loopback ports.</summary>
public sealed class StackProcess : IDisposable
{
    private readonly Process _process;

    public int GrpcPort { get; }
    public int HttpPort { get; }
    public string GrpcAddress => $"http://127.0.0.1:{GrpcPort}";
    public string HttpAddress => $"http://127.0.0.1:{HttpPort}";
    public bool HasExited => _process.HasExited;

    private StackProcess(Process process, int grpcPort, int httpPort) => (_process, GrpcPort, HttpPort) = (process, grpcPort, httpPort);

    public static StackProcess Start(string connectionString, string clusterId, string serviceId, IDictionary<string, string>? extra = null)
    {
        var (grpc, http) = (FreePort(), FreePort());
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
            ["Chat__ClusterId"] = clusterId,
            ["Chat__ServiceId"] = serviceId,
            ["Chat__SiloPort"] = FreePort().ToString(),
            ["Chat__GatewayPort"] = FreePort().ToString(),
            ["Chat__Auth__SigningKey"] = TestGateway.SigningKey,
            ["Chat__Gateway__HeartbeatInterval"] = "00:00:01",
            ["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}",
            ["Kestrel__Endpoints__Http__Url"] = $"http://127.0.0.1:{http}",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) environment[key] = value;
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new StackProcess(process, grpc, http);
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

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
