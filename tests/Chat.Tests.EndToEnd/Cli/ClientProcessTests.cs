namespace Chat.Tests.Cli;

/// <summary>
/// The real <c>chat client</c> process against the real stack process: a session through a stack restart, and what a
/// piped session prints.
/// </summary>
public class ClientProcessTests
{
    private static int Count(string text, string part) => text.Split('\n').Count(l => l.EndsWith(part, StringComparison.Ordinal));

    [Fact]
    public async Task The_client_reconnects_after_the_stack_restarts_and_shows_what_was_sent_meanwhile_once()
    {
        var connectionString = await TestPostgres.CreateDatabaseAsync();
        var first = StackProcess.Start(connectionString, clusterId: "term-first", serviceId: "term");
        StackProcess? second = null;
        var home = Path.Combine(Path.GetTempPath(), $"chat-term-{Guid.NewGuid():N}");
        using var bob = new CliUser(first.GrpcAddress);
        try
        {
            await first.WaitUntilReadyAsync();
            await bob.OkAsync("publish", "restart-chat");
            using var alice = ChatProcess.Start(home, "client", "restart-chat", "--server", first.GrpcAddress);
            {
                await alice.Err.WaitForAsync("/help for commands", 60);
                await bob.OkAsync("call", "restart-chat", "send_message", "before the restart");
                await alice.Out.WaitForAsync("before the restart");

                // A second person on the same machine, by profile, in a piped session: plain lines, commands handled here.
                using (var carol = ChatProcess.Start(home, "client", "restart-chat", "--server", first.GrpcAddress, "--profile", "carol"))
                {
                    carol.Send("/bogus");
                    carol.Send("/name Carol");
                    carol.Send("hello from a pipe");
                    carol.EndInput();
                    Assert.Equal(0, await carol.ExitedAsync());
                    Assert.Contains("for profile carol", carol.Err.Text);
                    Assert.Contains("error: unknown command /bogus: not sent", carol.Err.Text);
                    Assert.Contains(carol.Out.Lines, l => l.StartsWith("Online: ", StringComparison.Ordinal) && l.Contains("(you), ", StringComparison.Ordinal));
                    Assert.Contains(carol.Out.Lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\[\d\d:\d\d\] Carol: hello from a pipe$"));
                }
                await alice.Out.WaitForAsync("Carol: hello from a pipe");
                await alice.Out.WaitForAsync("User Carol disconnected.");
                Assert.DoesNotContain("bogus", alice.Out.Text);

                first.Kill();
                await alice.Err.WaitForAsync("Lost the connection to restart-chat", 60);
                alice.Send("typed while away"); // kept, and sent once the connection is back
                await alice.Err.WaitForAsync("Not connected", 60);

                // The same stack again, on the same gRPC address (a new Orleans cluster over the same PostgreSQL).
                second = StackProcess.Start(connectionString, clusterId: "term-second", serviceId: "term",
                    new Dictionary<string, string> { ["Kestrel__Endpoints__Grpc__Url"] = first.GrpcAddress });
                await second.WaitUntilReadyAsync();
                await bob.OkAsync("call", "restart-chat", "send_message", "sent after the restart");
                await alice.Err.WaitForAsync("Reconnected to restart-chat", 90);
                await alice.Out.WaitForAsync("sent after the restart", 60);
                await alice.Out.WaitForAsync("typed while away", 60);
                alice.Send("/quit");
                Assert.Equal(0, await alice.ExitedAsync());

                foreach (var text in new[] { "before the restart", "typed while away", "sent after the restart" })
                    Assert.True(Count(alice.Out.Text, ": " + text) == 1, $"\"{text}\" shown {Count(alice.Out.Text, ": " + text)} times:\n{alice.Out.Text}");
                var stored = await bob.OkAsync("sql", "restart-chat", "SELECT text FROM Message WHERE text = 'typed while away'");
                Assert.Single(stored.OutLines.Skip(2)); // sent again after the reconnect with its key: stored once
            }
        }
        finally
        {
            first.Dispose();
            second?.Dispose();
            try { Directory.Delete(home, recursive: true); } catch (DirectoryNotFoundException) { }
        }
    }
}
