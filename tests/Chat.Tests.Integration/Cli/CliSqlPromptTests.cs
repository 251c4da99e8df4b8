using System.Text.Json;
using Chat.Cli;

namespace Chat.Tests.Cli;

/// <summary>chat sql without a query: a prompt at a terminal, each statement from a pipe.</summary>
public class CliSqlPromptTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static string NewDatabaseName() => $"prompt-{Guid.NewGuid():N}"[..20];

    private static async Task<CliResult> RunAsync(CliUser user, string stdin, bool interactive, params string[] args)
    {
        var (stdout, stderr) = (new CapturedOutput(), new CapturedOutput());
        var exit = await CliProgram.RunAsync(["--server", user.Server, .. args], new StringReader(stdin), stdout, stderr, user.ConfigDirectory,
            new CliRunOptions { Interactive = interactive }).WaitAsync(TimeSpan.FromSeconds(60));
        return new CliResult(exit, stdout.Text, stderr.Text);
    }

    [Fact]
    public async Task The_prompt_takes_multi_line_statements_keeps_going_after_errors_and_has_history()
    {
        using var me = new CliUser(fixture.A.Address);
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        await me.OkAsync("call", db, "send_message", "one; with a semicolon");
        await me.OkAsync("call", db, "send_message", "two");

        var session = await RunAsync(me, """
            SELECT text
              FROM Message
              WHERE text = 'one; with a semicolon';
            SELECT * FROM Nowhere;
            \s
            !1
            \x
            SELECT count(*) AS n FROM Message; \q
            SELECT text FROM Message;
            """, interactive: true, "sql", db);

        Assert.Equal(0, session.ExitCode);
        Assert.Contains($"{db}> ", session.Err); // the prompt, and its continuation
        Assert.Contains(new string(' ', db.Length) + "> ", session.Err);
        Assert.Contains("error: InvalidArgument: ", session.Err); // the bad table: reported, and the session went on
        Assert.Contains("error: unknown command \\x", session.Err);
        var lines = session.OutLines;
        Assert.Equal(2, lines.Count(l => l == " \"one; with a semicolon\"")); // the statement, and !1 ran it again
        Assert.Contains(lines, l => l.StartsWith("   1  SELECT text\n", StringComparison.Ordinal) || l == "   1  SELECT text");
        Assert.Contains(lines, l => l.StartsWith("   2  SELECT * FROM Nowhere", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Trim() == "2"); // the count
        Assert.DoesNotContain(lines, l => l.Contains("\"two\"", StringComparison.Ordinal)); // \q stopped before the last statement
    }

    [Fact]
    public async Task Piped_statements_run_in_order_as_json_lines_and_a_failure_sets_the_exit_code()
    {
        using var me = new CliUser(fixture.A.Address);
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        await me.OkAsync("call", db, "send_message", "hello");

        var piped = await RunAsync(me, "SELECT text FROM Message;\nSELECT online FROM User;\nSELECT count(*) AS n FROM Message", interactive: false,
            "sql", db, "--format", "json");
        Assert.Equal(0, piped.ExitCode);
        Assert.Equal("", piped.Err); // no prompt, no banner
        var results = piped.OutLines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(3, results.Count);
        Assert.Equal("hello", results[0][0].GetProperty("text").GetString());
        Assert.Equal(1, results[2][0].GetProperty("n").GetInt32()); // the last statement needs no ;

        var failing = await RunAsync(me, "SELECT * FROM Nowhere;\nSELECT text FROM Message;", interactive: false, "sql", db);
        Assert.Equal(1, failing.ExitCode);
        Assert.StartsWith("error: InvalidArgument: ", failing.Err);
        Assert.Contains(" \"hello\"", failing.Out); // the statement after the failure still ran
    }

    [Fact]
    public void Statements_end_at_semicolons_outside_quotes()
    {
        var (statements, rest) = SqlPrompt.Split("SELECT 'a;b' FROM Message; SELECT \"x;\" FROM User;\nSELECT");
        Assert.Equal(["SELECT 'a;b' FROM Message", "SELECT \"x;\" FROM User"], statements);
        Assert.Equal("SELECT", rest);
        Assert.Equal(["SELECT 'it''s;' FROM Message"], SqlPrompt.Split("SELECT 'it''s;' FROM Message;").Statements);
    }
}
