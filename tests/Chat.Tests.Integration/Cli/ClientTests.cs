using System.Text.Json;

namespace Chat.Tests.Cli;

/// <summary>`chat client` in-process against a real gateway: slash commands, scroll-back, and a second person by profile.</summary>
public class ClientTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static int _databases;

    private static string NewDatabaseName() => $"client-{Interlocked.Increment(ref _databases)}";

    private static async Task<string[]> MessagesAsync(CliUser user, string db)
    {
        var rows = await user.OkAsync("sql", db, "SELECT text FROM Message", "--format", "json");
        return JsonDocument.Parse(rows.Out).RootElement.EnumerateArray().Select(r => r.GetProperty("text").GetString()!).ToArray();
    }

    [Fact]
    public async Task Slash_commands_are_handled_here_and_unknown_ones_are_refused_without_being_sent()
    {
        using var alice = new CliUser(fixture.A.Address);
        var db = NewDatabaseName();
        await alice.OkAsync("publish", db);
        var run = alice.Start("client", db);
        try
        {
            await run.Err.WaitForAsync("/help for commands");
            run.Input.Send("/help");
            await run.Out.WaitForAsync("/who");
            run.Input.Send("/nick Alice");
            await run.Out.WaitForAsync("renamed to Alice.");
            run.Input.Send("/who");
            await run.Out.WaitForAsync("Online: Alice (you); nobody else.");
            run.Input.Send("/shrug");
            await run.Err.WaitForAsync("error: unknown command /shrug: not sent");
            run.Input.Send("//shrug");
            await run.Out.WaitForAsync("Alice: /shrug");
            run.Input.Send("/quit");
            Assert.Equal(0, await run.ExitedAsync());
        }
        finally
        {
            run.Input.End();
        }
        Assert.Equal(["/shrug"], await MessagesAsync(alice, db)); // /help, /who, /nick and the unknown /shrug were never messages
    }

    [Fact]
    public async Task More_pages_back_through_the_history_beyond_the_last_twenty()
    {
        using var owner = new CliUser(fixture.A.Address);
        var db = NewDatabaseName();
        await owner.OkAsync("publish", db);
        for (var i = 1; i <= 45; i++) await owner.OkAsync("call", db, "send_message", $"m{i}");

        var run = owner.Start("client", db);
        await run.Err.WaitForAsync("/help for commands");
        Assert.Equal(Enumerable.Range(26, 20).Select(i => $"m{i}"), Texts(run.Out.Lines));
        // Lines are handled in order, each /more answered before the next is read.
        run.Input.Send("/more");
        run.Input.Send("/more");
        run.Input.Send("/more");
        run.Input.End();
        Assert.Equal(0, await run.ExitedAsync());

        var lines = run.Out.Lines;
        Assert.Equal(
            [.. Enumerable.Range(26, 20).Select(i => $"m{i}"), .. Enumerable.Range(6, 20).Select(i => $"m{i}"), .. Enumerable.Range(1, 5).Select(i => $"m{i}")],
            Texts(lines));
        Assert.Equal(["--- 20 older messages ---", "--- end of older messages ---", "--- 5 older messages ---", "--- end of older messages ---", "No older messages."],
            lines.Where(l => l.StartsWith("---", StringComparison.Ordinal) || l.StartsWith("No older", StringComparison.Ordinal)));
    }

    private static string[] Texts(IEnumerable<string> lines) =>
        CliTests.Untimed(lines.Where(l => l.StartsWith('['))).Select(l => l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..]).ToArray();

    [Fact]
    public async Task A_second_profile_on_the_same_machine_is_a_second_person()
    {
        using var machine = new CliUser(fixture.A.Address); // one configuration folder, two people
        var db = NewDatabaseName();
        await machine.OkAsync("publish", db);
        var alice = machine.Start("client", db);
        LiveRun? bob = null;
        try
        {
            await alice.Err.WaitForAsync("/help for commands");
            alice.Input.Send("/name Alice");
            await alice.Out.WaitForAsync("renamed to Alice.");

            bob = machine.Start("client", db, "--profile", "bob");
            await bob.Err.WaitForAsync("/help for commands");
            Assert.Contains("for profile bob", bob.Err.Text);
            await bob.Out.WaitForAsync("Online: ");
            Assert.Contains(bob.Out.Lines, l => l.StartsWith("Online: ", StringComparison.Ordinal) && l.EndsWith(", Alice.", StringComparison.Ordinal));
            bob.Input.Send("/name Bob");
            await alice.Out.WaitForAsync("renamed to Bob.");
            bob.Input.Send("Hi Alice");
            await alice.Out.WaitForAsync("Bob: Hi Alice");
            alice.Input.Send("/who");
            await alice.Out.WaitForAsync("Online: Alice (you), Bob.");
        }
        finally
        {
            alice.Input.End();
            bob?.Input.End();
        }
        Assert.Equal(0, await alice.ExitedAsync());
        Assert.Equal(0, await bob!.ExitedAsync());

        // The profile is saved: the next run is Bob again, and the default identity is still Alice.
        var names = await machine.OkAsync("sql", db, "SELECT name FROM User", "--format", "json");
        Assert.Equal(["Alice", "Bob"], JsonDocument.Parse(names.Out).RootElement.EnumerateArray().Select(r => r.GetProperty("name").GetString()).Order());
        var listed = await machine.OkAsync("identity", "list");
        Assert.Single(listed.OutLines, l => l.Contains(" bob", StringComparison.Ordinal));
        var again = await machine.RunAsync("call", db, "send_message", "Bob again", "--profile", "bob");
        Assert.Equal(0, again.ExitCode);
        Assert.DoesNotContain("Created identity", again.Err);
        var refused = await machine.RunAsync("client", db, "--profile", "bob", "--identity", "x");
        Assert.Equal(64, refused.ExitCode);
    }
}
