using System.Diagnostics;

namespace Chat.Tests.Cli;

/// <summary>The real <c>chat</c> program in a process of its own (stdin, stdout and stderr are pipes: plain lines).</summary>
public sealed class ChatProcess : IDisposable
{
    private readonly Process _process;

    public CapturedOutput Out { get; } = new();
    public CapturedOutput Err { get; } = new();

    private ChatProcess(Process process) => _process = process;

    /// <summary>
    /// The CLI's own build output, in the configuration the tests were built in: the copy beside the tests runs with
    /// the tests' dependency versions, not the ones chat was built against.
    /// </summary>
    private static string Program
    {
        get
        {
            var targetDirectory = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = targetDirectory.Parent!.Name;
            return Path.Combine(Deploy.Repo.Root, "src", "Cli", "bin", configuration, targetDirectory.Name, "chat.dll");
        }
    }

    /// <summary>Runs <c>chat</c> with <paramref name="configHome"/> as its XDG_CONFIG_HOME (its saved identities).</summary>
    public static ChatProcess Start(string configHome, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Program, .. args])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["XDG_CONFIG_HOME"] = configHome;
        start.Environment["NO_COLOR"] = "1";
        start.Environment.Remove("CHAT_SERVER");
        start.Environment.Remove("CHAT_PROFILE");
        var chat = new ChatProcess(Process.Start(start)!);
        chat._process.OutputDataReceived += (_, line) => { if (line.Data is not null) chat.Out.WriteLine(line.Data); };
        chat._process.ErrorDataReceived += (_, line) => { if (line.Data is not null) chat.Err.WriteLine(line.Data); };
        chat._process.BeginOutputReadLine();
        chat._process.BeginErrorReadLine();
        return chat;
    }

    public void Send(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    public void EndInput() => _process.StandardInput.Close();

    public async Task<int> ExitedAsync(int seconds = 60)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"chat still running after {seconds} s; stdout:\n{Out.Text}\nstderr:\n{Err.Text}");
        }
        return _process.ExitCode;
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
