using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Chat.Tests;

/// <summary>
/// A short seeded run of the chaos driver (tests/Chat.Chaos, docs/chaos.md) as a process of its own: three silos, two
/// gateways and PostgreSQL as real processes, kill -9 of a silo and a gateway and an immediate PostgreSQL stop on the
/// schedule seed 7 names, then its checks. The driver bounds itself and cleans up after itself, even when it fails.
/// </summary>
public class ChaosTests
{
    [Fact]
    public async Task A_short_seeded_chaos_run_finds_no_violation()
    {
        var dll = Path.Combine(AppContext.BaseDirectory.Replace($"{Path.DirectorySeparatorChar}Chat.Tests.EndToEnd{Path.DirectorySeparatorChar}", $"{Path.DirectorySeparatorChar}Chat.Chaos{Path.DirectorySeparatorChar}"), "Chat.Chaos.dll");
        Assert.True(File.Exists(dll), $"{dll} is not built");
        var start = new ProcessStartInfo("dotnet", [dll, "--seed", "7", "--seconds", "25", "--faults", "3"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            // The driver's own bound is its load time plus 240 s; this one is a backstop.
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(6));
        }
        catch (TimeoutException)
        {
            _ = Kill(process.Id, 15); // SIGTERM: the driver stops what it started
            if (!process.WaitForExit(60_000)) process.Kill(entireProcessTree: true);
            Assert.Fail($"the chaos run did not end within 6 minutes:\n{output}");
        }
        process.WaitForExit();
        string text;
        lock (output) text = output.ToString();
        Assert.True(process.ExitCode == 0, $"the chaos run exited with {process.ExitCode}:\n{text}");
        Assert.Contains("seed 7: no violations", text);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
