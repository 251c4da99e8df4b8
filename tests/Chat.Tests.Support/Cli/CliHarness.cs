using System.Text;
using System.Threading.Channels;
using Chat.Cli;

namespace Chat.Tests.Cli;

/// <summary>stdin for a CLI run that the test writes line by line, then ends (end of input).</summary>
public sealed class ScriptedInput : TextReader
{
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();

    public void Send(string line) => _lines.Writer.TryWrite(line);
    public void End() => _lines.Writer.TryComplete();

    public override async ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _lines.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public override Task<string?> ReadLineAsync() => ReadLineAsync(CancellationToken.None).AsTask();
    public override string? ReadLine() => ReadLineAsync().GetAwaiter().GetResult();
}

/// <summary>stdout or stderr of a CLI run: safe to read while the run writes, with bounded waits for expected text.</summary>
public sealed class CapturedOutput : TextWriter
{
    private readonly StringBuilder _text = new();

    public override Encoding Encoding => Encoding.UTF8;
    public override void Write(char value) { lock (_text) _text.Append(value); }
    public override void Write(string? value) { lock (_text) _text.Append(value); }
    public override void WriteLine(string? value) { lock (_text) _text.Append(value).Append('\n'); }

    public string Text { get { lock (_text) return _text.ToString(); } }
    public string[] Lines => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public async Task WaitForAsync(string expected, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!Text.Contains(expected, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"No \"{expected}\" within {seconds} s; the output so far:\n{Text}");
            await Task.Delay(25);
        }
    }
}

public sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string[] OutLines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>One person at the command line: a configuration folder of their own, and a gateway.</summary>
public sealed class CliUser(string server) : IDisposable
{
    public string ConfigDirectory { get; } = Path.Combine(Path.GetTempPath(), $"chat-cli-{Guid.NewGuid():N}");
    public string Server { get; } = server;

    public async Task<CliResult> RunAsync(params string[] args)
    {
        var (stdout, stderr) = (new CapturedOutput(), new CapturedOutput());
        var exit = await CliProgram.RunAsync(["--server", Server, .. args], new StringReader(""), stdout, stderr, ConfigDirectory)
            .WaitAsync(TimeSpan.FromSeconds(60));
        return new CliResult(exit, stdout.Text, stderr.Text);
    }

    /// <summary>Runs a command that must succeed.</summary>
    public async Task<CliResult> OkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.ExitCode == 0, $"chat {string.Join(' ', args)} exited with {result.ExitCode}: {result.Err}");
        return result;
    }

    /// <summary>Starts a long-running command (client, subscribe) with scripted input.</summary>
    public LiveRun Start(params string[] args)
    {
        var run = new LiveRun();
        run.Exit = Task.Run(() => CliProgram.RunAsync(["--server", Server, .. args], run.Input, run.Out, run.Err, ConfigDirectory));
        return run;
    }

    public async Task<string> IdentityAsync()
    {
        var shown = await OkAsync("identity", "show");
        return shown.OutLines.Single(l => l.StartsWith("identity ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
    }

    public void Dispose()
    {
        try { Directory.Delete(ConfigDirectory, recursive: true); } catch (DirectoryNotFoundException) { }
    }
}

public sealed class LiveRun
{
    public ScriptedInput Input { get; } = new();
    public CapturedOutput Out { get; } = new();
    public CapturedOutput Err { get; } = new();
    public Task<int> Exit { get; set; } = Task.FromResult(-1);

    public async Task<int> ExitedAsync(int seconds = 30)
    {
        try
        {
            return await Exit.WaitAsync(TimeSpan.FromSeconds(seconds));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Still running after {seconds} s; stdout:\n{Out.Text}\nstderr:\n{Err.Text}");
            throw;
        }
    }
}
