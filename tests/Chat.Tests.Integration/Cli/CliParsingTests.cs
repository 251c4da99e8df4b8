using Chat.Cli;

namespace Chat.Tests.Cli;

/// <summary>System.CommandLine parsing: typos get a suggestion, every verb has --help, and completion lists the verbs.</summary>
public class CliParsingTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private CliUser NewUser() => new(fixture.A.Address);

    [Fact]
    public async Task A_mistyped_verb_or_option_is_refused_with_the_closest_one()
    {
        using var me = NewUser();
        var verb = await me.RunAsync("publsh", "quickstart");
        Assert.Equal(64, verb.ExitCode);
        Assert.Equal("error: unknown command 'publsh'; did you mean: chat publish? see: chat --help\n", verb.Err);

        var sub = await me.RunAsync("identity", "nw");
        Assert.Equal(64, sub.ExitCode);
        Assert.Contains("chat identity has no command 'nw'", sub.Err);
        Assert.Contains("did you mean: chat identity new?", sub.Err);

        var option = await me.RunAsync("logs", "quickstart", "--folow");
        Assert.Equal(64, option.ExitCode);
        Assert.StartsWith("error: chat logs has no option --folow (did you mean --follow?", option.Err);
        Assert.False(File.Exists(Path.Combine(me.ConfigDirectory, "config.json"))); // refused before anything ran
    }

    [Fact]
    public async Task Every_verb_and_group_has_help_and_the_old_spellings_still_parse()
    {
        using var me = NewUser();
        foreach (var group in new[] { "identity", "server" })
        {
            var help = await me.OkAsync(group, "--help");
            Assert.StartsWith($"Usage: chat {group} <command>", help.Out);
        }
        Assert.StartsWith("Usage: chat sql <database> [query]", (await me.OkAsync("help", "sql")).Out);
        Assert.Contains("--format <text|json>", (await me.OkAsync("list", "-h")).Out);

        var db = $"parse-{Guid.NewGuid():N}"[..20];
        await me.OkAsync("publish", db);
        for (var i = 1; i <= 3; i++) await me.OkAsync("call", db, "send_message", $"m{i}");
        // -n2 (value joined to a short option), --level=info, and global options after the verb.
        var logs = await me.OkAsync("logs", db, "-n2", "--level=info", "--format=json");
        Assert.Equal(2, logs.OutLines.Length);
        Assert.Contains("m3", logs.OutLines[1]);

        // Words the library could take for something else stay words: @name is no response file, -5 no option.
        await me.OkAsync("call", db, "send_message", "@alice");
        await me.OkAsync("call", db, "send_message", "-5");
        var texts = await me.OkAsync("sql", db, "SELECT text FROM Message WHERE offset > 3 ORDER BY offset", "--format", "json");
        Assert.Equal(["@alice", "-5"], System.Text.Json.JsonDocument.Parse(texts.Out).RootElement.EnumerateArray().Select(r => r.GetProperty("text").GetString()));
    }

    [Fact]
    public async Task Completion_of_a_partial_verb_returns_the_verbs()
    {
        using var me = NewUser();
        var partial = await me.OkAsync("[suggest:7]", "chat pu");
        Assert.Equal(["publish"], partial.OutLines);
        var all = await me.OkAsync("[suggest:5]", "chat ");
        foreach (var command in CliProgram.Commands.Select(c => c.Name.Split(' ')[0]).Distinct())
            Assert.Contains(command, all.OutLines);
        var sub = await me.OkAsync("[suggest:15]", "chat identity s");
        Assert.Equal(["set-default", "show"], sub.OutLines.Order(StringComparer.Ordinal));
        var options = await me.OkAsync("[suggest:13]", "chat logs --f");
        Assert.Equal(["--follow", "--format"], options.OutLines.Order(StringComparer.Ordinal));

        var bash = await me.OkAsync("completion", "bash");
        Assert.Contains("complete -o default -F _chat_complete chat", bash.Out);
        Assert.Contains("\"[suggest:${COMP_POINT}]\"", bash.Out);
        Assert.Contains("compdef _chat_complete chat", (await me.OkAsync("completion", "zsh")).Out);
        Assert.Equal(64, (await me.RunAsync("completion", "fish")).ExitCode);
    }
}
