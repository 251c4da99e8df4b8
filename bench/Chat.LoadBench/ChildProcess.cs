using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Chat.LoadBench;

/// <summary>
/// A process this benchmark starts (the real stack binary, or its own baseline server mode) so that its memory can be
/// measured apart from the benchmark's clients. Marked with <see cref="MarkerVariable"/> and listed in the run folder,
/// so that a later run can stop it if this one was killed before it could.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    public const string MarkerVariable = "CHAT_LOADBENCH_RUN";
    private const int OutputLines = 40;

    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private ChildProcess(Process process, string name) => (_process, Name) = (process, name);

    public string Name { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.HasExited ? _process.ExitCode : -1;

    /// <summary>The last lines it printed (stdout and stderr), for a failure report.</summary>
    public string Output
    {
        get { lock (_output) return string.Join("\n", _output); }
    }

    /// <summary>Raised for every line on standard output.</summary>
    public event Action<string>? Line;

    public static ChildProcess Start(string name, string fileName, IEnumerable<string> arguments, IDictionary<string, string> environment, string runFolder,
        string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            WorkingDirectory = workingDirectory ?? Directory.GetCurrentDirectory(),
            RedirectStandardInput = true, // closed when this process dies: the baseline server mode then exits
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment) start.Environment[key] = value;
        start.Environment[MarkerVariable] = runFolder;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        File.AppendAllLines(Path.Combine(runFolder, "children"), [process.Id.ToString(CultureInfo.InvariantCulture)]);
        var child = new ChildProcess(process, name);
        process.OutputDataReceived += (_, e) => child.Remember(e.Data, stdout: true);
        process.ErrorDataReceived += (_, e) => child.Remember(e.Data, stdout: false);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    private void Remember(string? line, bool stdout)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > OutputLines) _output.Dequeue();
        }
        if (stdout) Line?.Invoke(line);
    }

    /// <summary>SIGTERM and up to <paramref name="grace"/> to exit on its own (the stack then stops properly), else SIGKILL.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited) return;
        _ = Kill(_process.Id, 15);
        try
        {
            await _process.WaitForExitAsync().WaitAsync(grace);
        }
        catch (TimeoutException)
        {
            Console.Error.WriteLine($"{Name} did not stop within {grace.TotalSeconds:0} s of SIGTERM: killed");
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(TimeSpan.FromSeconds(30)); }
        catch (InvalidOperationException) { /* never started */ }
        _process.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>
    /// Run folders (<c>chat-load-PID-*</c> in the temp directory) of earlier runs whose benchmark process is gone (killed
    /// before it could clean up): stop their child processes and their PostgreSQL, and delete the folders.
    /// </summary>
    public static void RemoveLeftovers()
    {
        foreach (var folder in Directory.GetDirectories(Path.GetTempPath(), "chat-load-*-*"))
        {
            var parts = Path.GetFileName(folder).Split('-');
            if (parts.Length != 4 || !int.TryParse(parts[2], CultureInfo.InvariantCulture, out var owner) || IsAlive(owner)) continue;
            var pids = new List<int>();
            var children = Path.Combine(folder, "children");
            if (File.Exists(children))
                pids.AddRange(File.ReadAllLines(children).Select(l => int.TryParse(l, CultureInfo.InvariantCulture, out var pid) ? pid : 0).Where(Ours));
            var postmaster = Path.Combine(folder, "postgres", "pgdata", "postmaster.pid");
            if (File.Exists(postmaster) && int.TryParse(File.ReadLines(postmaster).FirstOrDefault(), CultureInfo.InvariantCulture, out var pg) && IsAlive(pg))
                pids.Add(pg);
            foreach (var pid in pids)
            {
                try { Process.GetProcessById(pid).Kill(entireProcessTree: true); }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
            }
            try { Directory.Delete(folder, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            Console.WriteLine($"removed a killed run's leftovers: {folder} ({pids.Count} processes stopped)");

            bool Ours(int pid)
            {
                try { return pid > 0 && File.ReadAllText($"/proc/{pid}/environ").Contains($"{MarkerVariable}={folder}\0", StringComparison.Ordinal); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
            }
        }
    }

    private static bool IsAlive(int pid)
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
}
