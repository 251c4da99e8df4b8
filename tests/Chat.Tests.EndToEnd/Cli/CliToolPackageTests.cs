using System.Diagnostics;
using System.Text.Json;
using Chat.Tests.Deploy;

namespace Chat.Tests.Cli;

/// <summary>`chat` as a .NET tool: packed from src/Cli, installed into a throwaway tool path (never globally), run as a program.</summary>
public class CliToolPackageTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static async Task<(int Exit, string Out, string Err)> RunAsync(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        // A bound on a hang only: packing builds the project, which is slow on a loaded machine.
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await output, await error);
    }

    [Fact]
    public async Task The_packed_tool_installs_into_a_tool_path_and_runs_as_chat()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"chat-tool-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var packages = Path.Combine(folder, "packages");
            var pack = await RunAsync("dotnet", ["pack", Path.Combine(Repo.Root, "src", "Cli"), "-c", "Release", "-o", packages, "--nologo"]);
            Assert.True(pack.Exit == 0, $"dotnet pack failed:\n{pack.Out}\n{pack.Err}");
            Assert.Single(Directory.GetFiles(packages, "ChatOnOrleans.Cli.*.nupkg"));

            // Only the folder just packed into as a source: nothing from any feed can stand in for the tool.
            var config = Path.Combine(folder, "nuget.config");
            await File.WriteAllTextAsync(config, $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration><packageSources><clear /><add key="packed" value="{packages}" /></packageSources></configuration>
                """);
            var tools = Path.Combine(folder, "bin");
            var install = await RunAsync("dotnet", ["tool", "install", "ChatOnOrleans.Cli", "--tool-path", tools, "--configfile", config]);
            Assert.True(install.Exit == 0, $"dotnet tool install failed:\n{install.Out}\n{install.Err}");

            var chat = Path.Combine(tools, "chat");
            var help = await RunAsync(chat, ["--help"]);
            Assert.Equal(0, help.Exit);
            Assert.Contains("Usage: chat <command>", help.Out);
            Assert.Contains("describe", help.Out);

            // The installed program talks to a real gateway, with its own configuration folder.
            var environment = new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = Path.Combine(folder, "config"), ["NO_COLOR"] = "1" };
            var db = $"tool-{Guid.NewGuid():N}"[..20];
            var publish = await RunAsync(chat, ["publish", db, "--server", fixture.A.Address, "--format", "json"], environment);
            Assert.True(publish.Exit == 0, publish.Err);
            Assert.True(JsonDocument.Parse(publish.Out).RootElement.GetProperty("created").GetBoolean());

            // No terminal on stdin: a delete without --yes is refused.
            var delete = await RunAsync(chat, ["delete", db, "--server", fixture.A.Address], environment);
            Assert.Equal(64, delete.Exit);
            Assert.Contains("--yes", delete.Err);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
