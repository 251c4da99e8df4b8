using System.Text.Json;
using Chat.Cli;

namespace Chat.Tests.Cli;

/// <summary>Destructive verbs ask first (or need --yes), and a text too long is refused with its limit named.</summary>
public class CliSafetyTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private CliUser NewUser() => new(fixture.A.Address);

    private static string NewDatabaseName() => $"safe-{Guid.NewGuid():N}"[..20];

    /// <summary>A run at a terminal: the person's answer arrives on stdin.</summary>
    private static async Task<CliResult> AtTerminalAsync(CliUser user, string answer, params string[] args)
    {
        var (stdout, stderr) = (new CapturedOutput(), new CapturedOutput());
        var exit = await CliProgram.RunAsync(["--server", user.Server, .. args], new StringReader(answer + "\n"), stdout, stderr, user.ConfigDirectory,
            new CliRunOptions { Interactive = true }).WaitAsync(TimeSpan.FromSeconds(60));
        return new CliResult(exit, stdout.Text, stderr.Text);
    }

    private static async Task<int> MessagesAsync(CliUser user, string db) =>
        JsonDocument.Parse((await user.OkAsync("sql", db, "SELECT * FROM Message", "--format", "json")).Out).RootElement.GetArrayLength();

    [Fact]
    public async Task Delete_and_publish_clear_need_a_yes()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        await me.OkAsync("call", db, "send_message", "keep me");

        // No terminal and no --yes: refused, nothing changed.
        var delete = await me.RunAsync("delete", db);
        Assert.Equal(64, delete.ExitCode);
        Assert.Contains($"run: chat delete {db} --yes", delete.Err);
        var clear = await me.RunAsync("publish", db, "--clear");
        Assert.Equal(64, clear.ExitCode);
        Assert.Contains($"chat publish {db} --clear --yes", clear.Err);
        Assert.Equal(1, await MessagesAsync(me, db));

        // At a terminal: no is no, yes is yes.
        var declined = await AtTerminalAsync(me, "n", "delete", db);
        Assert.Equal(1, declined.ExitCode);
        Assert.Contains($"Delete database {db} with every user and message in it? This cannot be undone. [y/N]", declined.Err);
        Assert.Contains("Cancelled; nothing was changed.", declined.Err);
        Assert.Equal(1, await MessagesAsync(me, db));

        var cleared = await AtTerminalAsync(me, "y", "publish", db, "--clear");
        Assert.Equal(0, cleared.ExitCode);
        Assert.Equal(0, await MessagesAsync(me, db));
        Assert.Equal(0, (await AtTerminalAsync(me, "yes", "delete", db)).ExitCode);
        Assert.Equal(1, (await me.RunAsync("describe", db)).ExitCode); // gone

        var scripted = NewDatabaseName();
        await me.OkAsync("publish", scripted);
        await me.OkAsync("publish", scripted, "--clear", "-y");
        Assert.Equal($"Deleted database {scripted}.\n", (await me.OkAsync("delete", scripted, "--yes")).Out);
    }

    [Fact]
    public async Task A_70000_character_message_is_refused_with_the_limit_named()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        var huge = new string('x', 70_000);

        // The database's limit is known: refused before sending.
        var local = await me.RunAsync("call", db, "send_message", huge);
        Assert.Equal(1, local.ExitCode);
        Assert.Equal($"error: Messages in database {db} are at most 4096 characters, and this one has 70000; nothing was sent. " +
                     $"Shorten it, or (as the owner) raise the limit: chat publish {db} --max-message-length <N>\n", local.Err);
        var name = await me.RunAsync("call", db, "set_name", new string('n', 65));
        Assert.Contains("Names in database", name.Err);
        Assert.Contains("at most 64 characters", name.Err);

        // A database that takes long messages: the gateway's request size is the limit, and the error says so.
        await me.OkAsync("publish", db, "--max-message-length", "1000000");
        var gateway = await me.RunAsync("call", db, "send_message", huge);
        Assert.Equal(1, gateway.ExitCode);
        Assert.StartsWith("error: ResourceExhausted: ", gateway.Err);
        Assert.Contains("larger than the gateway takes: 64 KiB", gateway.Err);
        Assert.Single(gateway.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(0, await MessagesAsync(me, db));

        // Within the limits it goes through.
        await me.OkAsync("call", db, "send_message", new string('x', 5000));
        Assert.Equal(1, await MessagesAsync(me, db));
    }
}
