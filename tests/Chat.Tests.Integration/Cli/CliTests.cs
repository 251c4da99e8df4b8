using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Chat.Cli;

namespace Chat.Tests.Cli;

/// <summary>The `chat` tool run in-process against a real gateway, as a person would run it.</summary>
public class CliTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private static int _databases;

    private CliUser NewUser() => new(fixture.A.Address);

    private static string NewDatabaseName() => $"cli-{Interlocked.Increment(ref _databases)}";

    [Fact]
    public async Task The_quickstart_walkthrough_publish_call_logs_sql()
    {
        using var me = NewUser();
        var db = NewDatabaseName();

        var published = await me.OkAsync("publish", db);
        Assert.StartsWith($"Created database {db} (owner 0x", published.Out);
        Assert.Contains("Created identity", published.Err); // the first command that needs a token makes one
        var identity = await me.IdentityAsync();

        var call = await me.OkAsync("call", db, "send_message", "Hello, World!");
        Assert.Equal("", call.Out);

        var logs = await me.OkAsync("logs", db);
        Assert.Contains(logs.OutLines, l => Regex.IsMatch(l, @"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z  INFO: Hello, World!$"));
        Assert.Contains(logs.OutLines, l => l.Contains($"INFO: Database {db} published by", StringComparison.Ordinal));

        var sql = await me.OkAsync("sql", db, "SELECT * FROM Message");
        var lines = sql.OutLines;
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^ sender +\| sent +\| text +\| offset$", lines[0]);
        Assert.Matches(@"^-+\+-+\+-+\+-+$", lines[1]);
        Assert.Matches($@"^ 0x{identity} \| \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{6}}\+00:00 \| ""Hello, World!"" \| 1$", lines[2]);
        Assert.Equal(lines[0].IndexOf('|'), lines[2].IndexOf('|')); // columns line up
        Assert.Equal(lines[1].IndexOf('+'), lines[2].IndexOf('|'));

        var json = await me.OkAsync("sql", db, "SELECT text, offset FROM Message", "--format", "json");
        var row = Assert.Single(JsonDocument.Parse(json.Out).RootElement.EnumerateArray());
        Assert.Equal("Hello, World!", row.GetProperty("text").GetString());
        Assert.Equal(1ul, row.GetProperty("offset").GetUInt64());

        var listed = await me.OkAsync("list");
        Assert.Contains(listed.OutLines, l => l.StartsWith($" {db} ", StringComparison.Ordinal) && l.Contains("0x" + identity, StringComparison.Ordinal));

        var deleted = await me.OkAsync("delete", db, "--yes"); // no terminal to confirm on
        Assert.Equal($"Deleted database {db}.\n", deleted.Out);
        var gone = await me.RunAsync("sql", db, "SELECT * FROM Message");
        Assert.Equal(1, gone.ExitCode);
        Assert.StartsWith("error: NotFound: ", gone.Err);
    }

    [Fact]
    public async Task A_second_run_is_the_same_person_and_the_config_is_private()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        var first = await me.OkAsync("publish", db);
        var created = Regex.Match(first.Err, "Created identity ([0-9a-f]{64})").Groups[1].Value;
        Assert.NotEmpty(created);

        var again = await me.OkAsync("publish", db);
        Assert.Equal("", again.Err); // no new identity
        Assert.Contains("already exists", again.Out);
        Assert.Equal(created, await me.IdentityAsync());

        var config = Path.Combine(me.ConfigDirectory, "config.json");
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(me.ConfigDirectory));
        }
        using var saved = JsonDocument.Parse(File.ReadAllText(config));
        var entry = Assert.Single(saved.RootElement.GetProperty("identities").EnumerateArray());
        Assert.Equal(created, entry.GetProperty("identity").GetString());
        Assert.Equal(fixture.A.Address.TrimEnd('/'), entry.GetProperty("server").GetString());

        // A second identity, used by name, then made the default, then removed.
        var bob = await me.OkAsync("identity", "new", "--name", "bob");
        var bobIdentity = Regex.Match(bob.Out, "Created identity ([0-9a-f]{64}) \\(bob\\)").Groups[1].Value;
        Assert.NotEmpty(bobIdentity);
        var list = await me.OkAsync("identity", "list");
        Assert.Contains(list.OutLines, l => l.StartsWith(" *", StringComparison.Ordinal) && l.Contains(created, StringComparison.Ordinal));
        Assert.Contains(list.OutLines, l => l.Contains(bobIdentity, StringComparison.Ordinal) && l.EndsWith("bob", StringComparison.Ordinal));
        var refused = await me.RunAsync("delete", db, "--identity", "bob", "--yes");
        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith("error: PermissionDenied: ", refused.Err);

        await me.OkAsync("identity", "set-default", bobIdentity[..10]);
        Assert.Equal(bobIdentity, await me.IdentityAsync());
        var token = (await me.OkAsync("identity", "show", "bob", "--token")).Out.Trim();
        Assert.Equal(JsonDocument.Parse(File.ReadAllText(config)).RootElement.GetProperty("identities").EnumerateArray()
            .Single(i => i.GetProperty("identity").GetString() == bobIdentity).GetProperty("token").GetString(), token);
        var removed = await me.OkAsync("identity", "remove", "bob");
        Assert.Contains($"The default identity for {me.Server.TrimEnd('/')} is now {created}.", removed.Out);
        Assert.Equal(created, await me.IdentityAsync());
    }

    [Fact]
    public async Task Reducer_arguments_are_plain_words_or_one_json_array()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        await me.OkAsync("call", db, "send_message", "plain words, sent as a string");
        await me.OkAsync("call", db, "send_message", """["a JSON array"]""");
        await me.OkAsync("call", db, "send_message", "[not JSON, so a string]");
        await me.OkAsync("call", db, "send_message", "--", "-starts with a dash");

        var two = await me.RunAsync("call", db, "send_message", "two", "words");
        Assert.Equal(1, two.ExitCode);
        Assert.StartsWith("error: InvalidArgument: send_message takes 1 argument", two.Err);

        var texts = await me.OkAsync("sql", db, "SELECT text FROM Message ORDER BY offset", "--format", "json");
        Assert.Equal(["plain words, sent as a string", "a JSON array", "[not JSON, so a string]", "-starts with a dash"],
            JsonDocument.Parse(texts.Out).RootElement.EnumerateArray().Select(r => r.GetProperty("text").GetString()));

        Assert.Equal("""["Hello, World!"]""", DatabaseCommands.ArgumentsJson(["Hello, World!"]));
        Assert.Equal("""["a","b \"c\""]""", DatabaseCommands.ArgumentsJson(["a", "b \"c\""]));
        Assert.Equal("""[1, "x"]""", DatabaseCommands.ArgumentsJson(["""[1, "x"]"""]));
        Assert.Equal("[]", DatabaseCommands.ArgumentsJson([]));
    }

    [Fact]
    public async Task A_call_repeated_with_its_idempotency_key_is_not_run_twice()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        await me.OkAsync("call", db, "send_message", "exactly once", "--idempotency-key", "script-42");
        await me.OkAsync("call", db, "send_message", "exactly once", "--idempotency-key", "script-42");
        await me.OkAsync("call", db, "send_message", "exactly once"); // no key of the caller's: a new call each run

        var rows = await TestPostgres.RowsAsync(fixture.ConnectionString,
            """SELECT "offset" FROM chat.messages WHERE database = @db AND text = 'exactly once' ORDER BY "offset" """, ("db", db));
        Assert.Equal([1L, 2L], rows.Select(r => (long)r[0]!));

        var reused = await me.RunAsync("call", db, "send_message", "something else", "--idempotency-key", "script-42");
        Assert.Equal(1, reused.ExitCode);
        Assert.Contains("was already used for a different send_message call", reused.Err);
    }

    [Fact]
    public async Task A_result_cut_by_the_row_cap_prints_the_notice()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("identity", "new");
        var token = (await me.OkAsync("identity", "show", "--token")).Out.Trim();
        // Unlimited sends need the settings the CLI does not set; the fixture's gateways cap SQL results at 500 rows.
        await fixture.A.Databases.PublishAsync(new Chat.Api.V1.PublishRequest { Database = db, Settings = new Chat.Api.V1.DatabaseSettings { MessagesPerSecond = 0 } }, TestGateway.Bearer(token));
        await Task.WhenAll(Enumerable.Range(0, 510).Select(i =>
            fixture.A.Chat.SendMessageAsync(new Chat.Api.V1.SendMessageRequest { Database = db, Text = $"n{i}" }, TestGateway.Bearer(token)).ResponseAsync));

        var table = await me.OkAsync("sql", db, "SELECT * FROM Message");
        Assert.Equal(502, table.OutLines.Length); // header, rule, 500 rows
        Assert.Contains("row cap", table.Err);
        var json = await me.OkAsync("sql", db, "SELECT * FROM Message", "--format", "json");
        Assert.Equal(500, JsonDocument.Parse(json.Out).RootElement.GetArrayLength()); // the notice stays out of the JSON
        Assert.Contains("row cap", json.Err);
    }

    [Fact]
    public async Task Reducer_errors_give_their_message_and_a_non_zero_exit_code()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        var empty = await me.RunAsync("call", db, "send_message", "");
        Assert.Equal(1, empty.ExitCode);
        Assert.Equal("error: InvalidArgument: Messages must not be empty\n", empty.Err);
        Assert.Equal("", empty.Out);

        var unknown = await me.RunAsync("call", db, "no_such_reducer");
        Assert.Equal(1, unknown.ExitCode);
        Assert.StartsWith("error: NotFound: ", unknown.Err);
        Assert.Single(unknown.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)); // one line, no stack trace

        var badSql = await me.RunAsync("sql", db, "DELETE FROM Message");
        Assert.Equal(1, badSql.ExitCode);
        Assert.StartsWith("error: InvalidArgument: ", badSql.Err);

        // The first errors a newcomer meets say what to do next.
        var missing = await me.RunAsync("call", db + "-typo", "send_message", "hi");
        Assert.Equal($"error: NotFound: Database '{db}-typo' does not exist. (chat list shows the databases; chat publish <name> creates one)\n", missing.Err);
        var nameless = await me.RunAsync("call", db, "set_name", "Alice");
        Assert.StartsWith("error: FailedPrecondition: Cannot set name for unknown user (this identity has never connected to the database", nameless.Err);
        Assert.Contains("chat client <database>", nameless.Err);
    }

    [Fact]
    public async Task An_unreachable_gateway_is_one_clear_line_and_exit_code_2()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var me = new CliUser($"http://127.0.0.1:{port}");
        var result = await me.RunAsync("call", "quickstart", "send_message", "Hello, World!");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"cannot reach the chat gateway at http://127.0.0.1:{port}: Connection refused. Start the stack with: dotnet run --project src/Silo\n", result.Err);
        Assert.False(File.Exists(Path.Combine(me.ConfigDirectory, "config.json"))); // nothing saved
    }

    [Fact]
    public async Task Usage_mistakes_exit_64_and_help_is_everywhere()
    {
        using var me = NewUser();
        var missing = await me.RunAsync("sql", "quickstart");
        Assert.Equal(64, missing.ExitCode);
        Assert.Equal("error: usage: chat sql <database> <query> (see: chat sql --help)\n", missing.Err);
        Assert.Equal(64, (await me.RunAsync("nonsense")).ExitCode);
        Assert.Equal(64, (await me.RunAsync("logs", "quickstart", "--level", "loud")).ExitCode);
        Assert.Equal(64, (await me.RunAsync("logs", "quickstart", "--bogus")).ExitCode);

        foreach (var command in CliProgram.Commands)
        {
            var help = await me.OkAsync([.. command.Name.Split(' '), "--help"]);
            Assert.StartsWith($"Usage: chat {command.Name}", help.Out);
            Assert.Contains("--server <address>", help.Out);
        }
        Assert.Contains("client", (await me.OkAsync("--help")).Out);
        Assert.Contains("set-default", (await me.OkAsync("identity")).Out);
    }

    [Fact]
    public async Task Logs_take_a_count_a_level_and_json()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        for (var i = 1; i <= 3; i++) await me.OkAsync("call", db, "send_message", $"line {i}");
        await me.RunAsync("call", db, "send_message", "");

        var last2 = await me.OkAsync("logs", db, "-n", "2", "--level", "info");
        Assert.Equal(2, last2.OutLines.Length);
        Assert.EndsWith("ERROR: Messages must not be empty", last2.OutLines[1]);
        Assert.EndsWith(" INFO: line 3", last2.OutLines[0]);

        var errors = await me.OkAsync("logs", db, "--level=error", "--format", "json");
        var record = Assert.Single(errors.OutLines.Select(l => JsonDocument.Parse(l).RootElement));
        Assert.Equal("error", record.GetProperty("level").GetString());
        Assert.Equal("send_message", record.GetProperty("reducer").GetString());
        Assert.Equal("Messages must not be empty", record.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Subscribe_prints_the_initial_rows_then_updates_as_json_lines_and_stops_after_n()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("publish", db);
        await me.OkAsync("call", db, "send_message", "before");

        var run = me.Start("subscribe", db, "SELECT * FROM Message", "-n", "1", "--print-initial-update");
        await run.Out.WaitForAsync("\n");
        var initial = JsonDocument.Parse(run.Out.Lines[0]).RootElement;
        Assert.Equal("before", Assert.Single(initial.GetProperty("Message").GetProperty("inserts").EnumerateArray()).GetProperty("text").GetString());

        await me.OkAsync("call", db, "send_message", "after");
        Assert.Equal(0, await run.ExitedAsync());
        var update = JsonDocument.Parse(run.Out.Lines[1]).RootElement.GetProperty("Message");
        Assert.Empty(update.GetProperty("deletes").EnumerateArray());
        var inserted = Assert.Single(update.GetProperty("inserts").EnumerateArray());
        Assert.Equal(("after", 2ul), (inserted.GetProperty("text").GetString(), inserted.GetProperty("offset").GetUInt64()));
        Assert.Equal(2, run.Out.Lines.Length);

        // -t stops a quiet subscription; a bad query is refused.
        var quiet = await me.OkAsync("subscribe", db, "SELECT * FROM User", "-t", "0.5");
        Assert.Equal("", quiet.Out);
        var bad = await me.RunAsync("subscribe", db, "SELECT * FROM Nowhere", "-t", "10");
        Assert.Equal(1, bad.ExitCode);
        Assert.StartsWith("error: the subscription was refused: ", bad.Err);
    }

    [Fact]
    public async Task Two_clients_chat_and_see_each_other_come_and_go()
    {
        using var owner = NewUser();
        using var bob = NewUser();
        using var alice = NewUser();
        var db = NewDatabaseName();
        await owner.OkAsync("publish", db);
        await owner.OkAsync("call", db, "send_message", "Welcome!");
        await alice.OkAsync("identity", "new");
        var aliceShort = (await alice.IdentityAsync())[..8];
        var ownerShort = (await owner.IdentityAsync())[..8];
        await bob.OkAsync("identity", "new");
        var bobShort = (await bob.IdentityAsync())[..8];

        var bobRun = bob.Start("client", db);
        LiveRun? aliceRun = null;
        try
        {
            await bobRun.Err.WaitForAsync($"Connected to {db} as ");
            Assert.Equal([$"{ownerShort}: Welcome!", $"Online: {bobShort} (you); nobody else."], Untimed(bobRun.Out.Lines)); // the history, and who is here
            bobRun.Input.Send("/name Bob");
            await bobRun.Out.WaitForAsync("renamed to Bob.");
            bobRun.Input.Send("/name");
            await bobRun.Err.WaitForAsync("error: Names must not be empty");

            aliceRun = alice.Start("client", db);
            await bobRun.Out.WaitForAsync($"User {aliceShort} connected.");
            aliceRun.Input.Send("/name Alice");
            await bobRun.Out.WaitForAsync($"User {aliceShort} renamed to Alice.");
            aliceRun.Input.Send("Hello from Alice");
            await bobRun.Out.WaitForAsync("Alice: Hello from Alice");
            bobRun.Input.Send("Hi Alice, Bob here");
            await aliceRun.Out.WaitForAsync("Bob: Hi Alice, Bob here");
            await aliceRun.Out.WaitForAsync("Alice: Hello from Alice"); // her own message too
            aliceRun.Input.Send("/quit");
            Assert.Equal(0, await aliceRun.ExitedAsync());
            await bobRun.Out.WaitForAsync("User Alice disconnected.");

            // Bob's client kept running through the error, and ends with its input.
            bobRun.Input.End();
            Assert.Equal(0, await bobRun.ExitedAsync());
        }
        finally
        {
            bobRun.Input.End();
            aliceRun?.Input.End();
        }

        Assert.Equal(
            [$"{ownerShort}: Welcome!", $"Online: {bobShort} (you); nobody else.", $"User {bobShort} renamed to Bob.", $"User {aliceShort} connected.", $"User {aliceShort} renamed to Alice.",
             "Alice: Hello from Alice", "Bob: Hi Alice, Bob here", "User Alice disconnected."],
            Untimed(bobRun.Out.Lines));

        // Both went offline when their streams closed; a latecomer sees the history in order.
        var users = await owner.OkAsync("sql", db, "SELECT name, online FROM User WHERE online = true", "--format", "json");
        Assert.Empty(JsonDocument.Parse(users.Out).RootElement.EnumerateArray());
        using var carol = NewUser();
        await carol.OkAsync("identity", "new");
        var carolShort = (await carol.IdentityAsync())[..8];
        var late = carol.Start("client", db);
        late.Input.Send("Carol was here"); // input that ends at once, as from a pipe: the line still goes out, and comes back
        late.Input.End();
        Assert.Equal(0, await late.ExitedAsync());
        Assert.Equal([$"{ownerShort}: Welcome!", "Alice: Hello from Alice", "Bob: Hi Alice, Bob here", $"Online: {carolShort} (you); nobody else.", $"{carolShort}: Carol was here"], Untimed(late.Out.Lines));
        Assert.All(late.Out.Lines.Where(l => l.Contains(": ", StringComparison.Ordinal) && !l.StartsWith("Online", StringComparison.Ordinal)),
            l => Assert.Matches(@"^\[(\d{4}-\d\d-\d\d )?\d\d:\d\d\] ", l)); // each message with its local time
    }

    /// <summary>Client output without the time each message starts with ("[15:04] Bob: hi" is "Bob: hi").</summary>
    internal static string[] Untimed(IEnumerable<string> lines) =>
        lines.Select(l => l.StartsWith('[') && l.IndexOf("] ", StringComparison.Ordinal) is > 0 and var end ? l[(end + 2)..] : l).ToArray();

    [Fact]
    public async Task Servers_are_saved_by_nickname_and_the_default_is_used()
    {
        using var me = new CliUser("unused");
        async Task<CliResult> Run(params string[] args)
        {
            var (stdout, stderr) = (new CapturedOutput(), new CapturedOutput());
            var exit = await CliProgram.RunAsync(args, new StringReader(""), stdout, stderr, me.ConfigDirectory,
                new CliRunOptions { Environment = name => name == "CHAT_SERVER" ? null : Environment.GetEnvironmentVariable(name) });
            return new CliResult(exit, stdout.Text, stderr.Text);
        }

        var added = await Run("server", "add", fixture.B.Address, "--name", "test-b", "--default");
        Assert.Equal(0, added.ExitCode);
        Assert.Contains("it is the default", added.Out);
        var list = await Run("server", "list");
        Assert.Contains(list.Out.Split('\n'), l => l.StartsWith(" *", StringComparison.Ordinal) && l.Contains("test-b", StringComparison.Ordinal));
        Assert.Contains(list.Out.Split('\n'), l => l.Contains("local", StringComparison.Ordinal) && l.Contains(CliProgram.DefaultServer, StringComparison.Ordinal));

        var db = NewDatabaseName();
        Assert.Equal(0, (await Run("publish", db)).ExitCode); // through the default server, gateway B
        Assert.Equal(0, (await Run("call", db, "send_message", "via B", "--server", "test-b")).ExitCode);

        Assert.Equal(0, (await Run("server", "set-default", "local")).ExitCode);
        var env = await CliProgram.RunAsync(["sql", db, "SELECT text FROM Message"], new StringReader(""), new CapturedOutput(), new CapturedOutput(), me.ConfigDirectory,
            new CliRunOptions { Environment = name => name == "CHAT_SERVER" ? "test-b" : null });
        Assert.Equal(0, env);
    }
}
