using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Chat.Chaos;

/// <summary>
/// The run's folder (<c>chat-chaos-PID-*</c> in the temp directory): PostgreSQL's data, every child's log, and the list of
/// children. A later run stops the children and PostgreSQL of a run whose driver was killed before it could.
/// </summary>
public sealed class RunFolder
{
    public const string MarkerVariable = "CHAT_CHAOS_RUN";

    public RunFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"chat-chaos-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(Path);
        Directory.CreateDirectory(Logs);
    }

    public string Path { get; }
    public string Logs => System.IO.Path.Combine(Path, "logs");
    public string Postgres => System.IO.Path.Combine(Path, "postgres");

    public void Remember(int pid)
    {
        lock (this) File.AppendAllLines(System.IO.Path.Combine(Path, "children"), [pid.ToString(CultureInfo.InvariantCulture)]);
    }

    public static void RemoveLeftovers()
    {
        foreach (var folder in Directory.GetDirectories(System.IO.Path.GetTempPath(), "chat-chaos-*"))
        {
            var parts = System.IO.Path.GetFileName(folder).Split('-');
            if (parts.Length < 4 || !int.TryParse(parts[2], CultureInfo.InvariantCulture, out var owner) || IsAlive(owner)) continue;
            var pids = new List<int>();
            var children = System.IO.Path.Combine(folder, "children");
            if (File.Exists(children))
                pids.AddRange(File.ReadAllLines(children).Select(l => int.TryParse(l, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
                    .Where(pid => Ours(pid, folder)));
            var postmaster = System.IO.Path.Combine(folder, "postgres", "pgdata", "postmaster.pid");
            if (File.Exists(postmaster) && int.TryParse(File.ReadLines(postmaster).FirstOrDefault(), CultureInfo.InvariantCulture, out var pg) && IsAlive(pg))
                pids.Add(pg);
            foreach (var pid in pids)
            {
                try { Process.GetProcessById(pid).Kill(entireProcessTree: true); }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
            }
            // A run that found violations keeps its logs for a day; PostgreSQL's data goes at once.
            var kept = File.Exists(System.IO.Path.Combine(folder, "keep")) && Directory.GetLastWriteTimeUtc(folder) > DateTime.UtcNow.AddDays(-1);
            try { Directory.Delete(kept ? System.IO.Path.Combine(folder, "postgres") : folder, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            if (pids.Count > 0 || !kept)
                Console.WriteLine($"removed a chaos run's leftovers: {folder} ({pids.Count} processes stopped{(kept ? ", logs kept" : "")})");
        }
    }

    private static bool Ours(int pid, string folder)
    {
        try { return pid > 0 && File.ReadAllText($"/proc/{pid}/environ").Contains($"{MarkerVariable}={folder}\0", StringComparison.Ordinal); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Below the ephemeral range: processes restart on their ports, which a client's connection must not hold meanwhile.</summary>
    public static int FreePort() => Chat.Development.LoopbackPorts.Free();
}

public enum NodeKind { Silo, Gateway }

/// <summary>
/// One silo or gateway: a built dll run with <c>dotnet</c>, on ports that stay the same across restarts (clients keep
/// their channels to a gateway's address). Output goes to a log file per incarnation.
/// </summary>
public sealed class Node(string name, NodeKind kind, string dll, IReadOnlyDictionary<string, string> environment, RunFolder run, int httpPort, int grpcPort)
{
    private Process? _process;
    private int _incarnation;

    public string Name { get; } = name;
    public NodeKind Kind { get; } = kind;
    public int HttpPort { get; } = httpPort;
    public int GrpcPort { get; } = grpcPort;
    public string GrpcAddress => $"http://127.0.0.1:{GrpcPort}";
    public bool IsUp => _process is { HasExited: false };
    public int Pid => _process?.Id ?? 0;
    public string LogFile => System.IO.Path.Combine(run.Logs, $"{Name}.{_incarnation}.log");

    public void Start()
    {
        if (IsUp) throw new InvalidOperationException($"{Name} is already running");
        _process?.Dispose();
        _incarnation++;
        // exec: the pid we hold is dotnet's own, so Kill() is a kill -9 of the silo itself.
        var start = new ProcessStartInfo("/bin/sh", ["-c", "exec dotnet \"$0\" >>\"$1\" 2>&1 </dev/null", dll, LogFile])
        {
            WorkingDirectory = System.IO.Path.GetDirectoryName(dll)!,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment) start.Environment[key] = value;
        start.Environment[RunFolder.MarkerVariable] = run.Path;
        _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Name}");
        run.Remember(_process.Id);
    }

    /// <summary>kill -9: no shutdown, no flush, connections reset.</summary>
    public void Kill()
    {
        if (_process is null || _process.HasExited) return;
        try { _process.Kill(); } catch (InvalidOperationException) { }
        _process.WaitForExit(10_000);
    }

    /// <summary>SIGTERM and up to <paramref name="grace"/> to stop properly, else SIGKILL.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process is null || _process.HasExited) return;
        _ = SendSignal(_process.Id, 15);
        try { await _process.WaitForExitAsync().WaitAsync(grace); }
        catch (TimeoutException) { Kill(); }
    }

    /// <summary>Ready: a silo's /readyz answers 200; a gateway answers a gRPC call that needs the cluster.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_process is null || _process.HasExited)
                throw new NodeFailedException($"{Name} exited with code {(_process?.HasExited == true ? _process.ExitCode : -1)} before it was ready (log {LogFile})");
            try
            {
                if (Kind == NodeKind.Silo)
                {
                    if ((await http.GetAsync($"http://127.0.0.1:{HttpPort}/readyz", cancellationToken)).IsSuccessStatusCode) return;
                }
                else
                {
                    using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(GrpcAddress);
                    var chat = new Api.V1.Chat.ChatClient(channel);
                    var created = await chat.CreateIdentityAsync(new Api.V1.CreateIdentityRequest(), deadline: DateTime.UtcNow.AddSeconds(3), cancellationToken: cancellationToken);
                    var databases = new Api.V1.Databases.DatabasesClient(channel);
                    await databases.ListAsync(new Api.V1.ListRequest(), Clients.Bearer(created.Token), DateTime.UtcNow.AddSeconds(5), cancellationToken);
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or Grpc.Core.RpcException && !cancellationToken.IsCancellationRequested) { }
            if (clock.Elapsed > timeout)
                throw new NodeFailedException($"{Name} was not ready within {timeout.TotalSeconds:0} s (log {LogFile})");
            await Task.Delay(250, cancellationToken);
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}

public sealed class NodeFailedException(string message) : Exception(message);
