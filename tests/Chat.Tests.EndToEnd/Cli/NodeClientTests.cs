using System.Diagnostics;

namespace Chat.Tests.Cli;

/// <summary>A test that needs the machine's <c>node</c> (and <c>npm</c>); skipped, and says why, when there is none.</summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (NodeClientTests.Find("node") is null || NodeClientTests.Find("npm") is null) Skip = "node and npm are not installed";
    }
}

/// <summary><c>examples/node-client</c> run with the machine's node against a real gateway, as README shows it.</summary>
public class NodeClientTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static readonly SemaphoreSlim Installed = new(1, 1);
    private static bool _installed;

    private static string Folder => Path.Combine(Deploy.Repo.Root, "examples", "node-client");

    internal static string? Find(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    private static async Task<(int Exit, string Out, string Err)> RunAsync(string program, string home, params string[] args)
    {
        var start = new ProcessStartInfo(Find(program)!, args)
        {
            WorkingDirectory = Folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["XDG_CONFIG_HOME"] = home;
        start.Environment.Remove("CHAT_SERVER");
        using var process = Process.Start(start)!;
        var (stdout, stderr) = (process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} still running after 5 minutes");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>npm ci from the lockfile, once per test run.</summary>
    private static async Task InstallAsync(string home)
    {
        await Installed.WaitAsync();
        try
        {
            if (_installed) return;
            var (exit, output, error) = await RunAsync("npm", home, "ci", "--no-audit", "--no-fund");
            Assert.True(exit == 0, $"npm ci failed:\n{output}\n{error}");
            _installed = true;
        }
        finally
        {
            Installed.Release();
        }
    }

    [NodeFact]
    public async Task The_quickstart_runs_twice_joins_a_database_by_name_and_fails_in_one_line()
    {
        var home = Path.Combine(Path.GetTempPath(), $"chat-node-{Guid.NewGuid():N}");
        try
        {
            await InstallAsync(home);
            var address = fixture.A.Address.Replace("http://", "", StringComparison.Ordinal);
            var db = $"node-{Guid.NewGuid():N}"[..16];

            var first = await RunAsync("node", home, "quickstart.mjs", db, address);
            Assert.True(first.Exit == 0, first.Err);
            Assert.Contains($"published {db}", first.Out);
            Assert.Contains("send_message([\"Hello from JavaScript!\"]) -> ok, offset 1", first.Out);
            Assert.Contains("set_name([\"\"]) -> error INVALID_ARGUMENT: Names must not be empty", first.Out);

            // Again: the same identity joins its database instead of publishing it a second time.
            var second = await RunAsync("node", home, "quickstart.mjs", address, db);
            Assert.True(second.Exit == 0, second.Err);
            Assert.Contains($"joining {db}", second.Out);
            Assert.DoesNotContain("created identity", second.Out);
            Assert.Contains("send_message([\"Hello from JavaScript!\"]) -> ok, offset 2", second.Out);

            // A database someone else published (the CLI's walkthrough) is joined, not republished.
            using var cli = new CliUser(fixture.A.Address);
            var theirs = $"node-cli-{Guid.NewGuid():N}"[..20];
            await cli.OkAsync("publish", theirs);
            var joined = await RunAsync("node", home, "quickstart.mjs", theirs, address);
            Assert.True(joined.Exit == 0, joined.Err);
            Assert.Contains($"joining {theirs}", joined.Out);
            var messages = await cli.OkAsync("sql", theirs, "SELECT text FROM Message");
            Assert.Contains("\"Hello from JavaScript!\"", messages.Out);

            // Nothing listening: one line that says what to do, and exit code 1.
            var nowhere = await RunAsync("node", home, "quickstart.mjs", db, $"127.0.0.1:{StackProcess.FreePort()}");
            Assert.Equal(1, nowhere.Exit);
            var line = Assert.Single(nowhere.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: cannot reach the chat gateway at 127.0.0.1:", line);
            Assert.Contains("dotnet run --project src/Silo", line);

            // A refusal from the gateway: one line with its status.
            var bad = await RunAsync("node", home, "quickstart.mjs", "Not A Valid Name!", address);
            Assert.Equal(1, bad.Exit);
            Assert.StartsWith("error: ", Assert.Single(bad.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        }
        finally
        {
            try { Directory.Delete(home, recursive: true); } catch (DirectoryNotFoundException) { }
        }
    }
}
