using System.Text.Json;
using Chat.Api.V1;

namespace Chat.Cli;

/// <summary>subscribe and client: commands that hold a Connect stream open.</summary>
internal static class LiveCommands
{
    private static readonly OptionSpec Updates = new("num-updates", 'n', "N", "stop after N updates");
    private static readonly OptionSpec Timeout = new("timeout", 't', "seconds", "stop this many seconds after the subscription is applied");
    private static readonly OptionSpec PrintInitial = new("print-initial-update", null, null, "print the rows the queries match now, as the first line");

    public static readonly CommandSpec[] All =
    [
        new("subscribe", "<database> <query>...", "print live changes to the rows some queries match, as JSON lines",
            """
            Subscribes to one or more queries of the form `SELECT * FROM User|Message [WHERE ...]`, or
            joins like `SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity WHERE u.name = 'Ada'` (`:sender`
            is your identity) and prints every committed change to their rows as one JSON line, as
            `spacetime subscribe` does:

              {"Message":{"deletes":[],"inserts":[{"sender":"0x...","sent":"...","text":"Hi","offset":3}]}}

            An updated row is a delete of the old row and an insert of the new one. Stops after -n updates,
            -t seconds after the subscription is applied, or at Ctrl+C, whichever comes first, and closes
            the connection cleanly.

            Examples:
              chat subscribe quickstart "SELECT * FROM Message" -n 1
              chat subscribe quickstart "SELECT * FROM User" "SELECT * FROM Message" -t 60 --print-initial-update
            """, [Updates, Timeout, PrintInitial], Subscribe, 2),
        new("client", "<database>", "chat interactively: the quickstart's client",
            """
            The quickstart's chat client. Connects as your identity, shows the last 20 messages and who is
            online, then every new message as `[HH:MM] name: text` (local time), and says when other users
            connect, disconnect or rename. Type:

              a line          to send it as a message (//text sends a line that starts with /)
              /name <name>    to set your name
              /who            to list who is online
              /more           to show 20 older messages (so does PageUp in a terminal)
              /help           to list these
              /quit           to leave (so do Ctrl+C and the end of input)

            Other /words are refused here, never sent. Errors (an empty name, a message too long) are printed
            and the client keeps running. In a terminal, messages print above the line being typed. When the
            connection drops (the stack restarts) the client reconnects with backoff and shows what was sent
            meanwhile, once. Leaving closes the connection, which marks you offline.

            A second person on the same machine: --profile bob (or CHAT_PROFILE=bob) uses an identity of
            its own, made on first use and saved under that name.

            Examples:
              chat client quickstart-chat
              chat client quickstart-chat --profile bob
            """, [], Client, 1, 1),
    ];

    private static async Task<int> Subscribe(CliContext context, ParsedArguments args)
    {
        var database = args.Positionals[0];
        var queries = args.Positionals.Skip(1).ToList();
        var limit = args.UInt("num-updates");
        var seconds = args.Seconds("timeout");
        var printInitial = args.Has("print-initial-update");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.Cancellation);
        using var session = await ConnectSession.OpenAsync(context, database);
        const uint requestId = 1;
        await session.SendAsync(new ClientMessage { Subscribe = new Subscribe { RequestId = requestId, Queries = { queries } } });

        var initial = new List<TableRows>();
        var applied = false;
        var received = 0u;
        try
        {
            while (!(applied && limit is { } n && received >= n) && await session.Messages.WaitToReadAsync(stop.Token))
            {
                while ((!applied || limit is not { } m || received < m) && session.Messages.TryRead(out var message))
                {
                    switch (message.MessageCase)
                    {
                        case ServerMessage.MessageOneofCase.SubscriptionError:
                            throw new CliException($"the subscription was refused: {message.SubscriptionError.Error}");
                        case ServerMessage.MessageOneofCase.SubscribeApplied:
                            initial.AddRange(message.SubscribeApplied.Tables);
                            if (message.SubscribeApplied.Last)
                            {
                                applied = true;
                                if (seconds is { } s) stop.CancelAfter(TimeSpan.FromSeconds(s));
                                if (printInitial) context.Out.WriteLine(InitialJson(initial));
                            }
                            break;
                        case ServerMessage.MessageOneofCase.TransactionUpdate when applied:
                            context.Out.WriteLine(UpdateJson(message.TransactionUpdate));
                            received++;
                            break;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // -t ran out, or Ctrl+C: both are how a subscription is meant to stop.
        }
        await session.CloseAsync();
        if (session.Failure is { } failure && !(applied && limit is { } done && received >= done)) throw failure;
        if (!applied && !stop.IsCancellationRequested) throw new CliException("the gateway ended the connection before the subscription was applied");
        return ExitCodes.Ok;
    }

    private static void WriteTable(Utf8JsonWriter w, IEnumerable<UserRow> deletedUsers, IEnumerable<MessageRow> deletedMessages, IEnumerable<UserRow> users, IEnumerable<MessageRow> messages)
    {
        w.WriteStartObject();
        w.WriteStartArray("deletes");
        foreach (var user in deletedUsers) JsonOutput.User(w, user);
        foreach (var message in deletedMessages) JsonOutput.Message(w, message);
        w.WriteEndArray();
        w.WriteStartArray("inserts");
        foreach (var user in users) JsonOutput.User(w, user);
        foreach (var message in messages) JsonOutput.Message(w, message);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    internal static string InitialJson(List<TableRows> tables) => JsonOutput.Write(w =>
    {
        w.WriteStartObject();
        foreach (var table in tables.GroupBy(t => t.Table))
        {
            w.WritePropertyName(table.Key);
            WriteTable(w, [], [], table.SelectMany(t => t.Users), table.SelectMany(t => t.Messages));
        }
        w.WriteEndObject();
    });

    internal static string UpdateJson(TransactionUpdate update) => JsonOutput.Write(w =>
    {
        w.WriteStartObject();
        foreach (var table in update.Tables.GroupBy(t => t.Table))
        {
            w.WritePropertyName(table.Key);
            WriteTable(w, table.SelectMany(t => t.DeletedUsers), table.SelectMany(t => t.DeletedMessages), table.SelectMany(t => t.InsertedUsers), table.SelectMany(t => t.InsertedMessages));
        }
        w.WriteEndObject();
    });

    private static Task<int> Client(CliContext context, ParsedArguments args)
    {
        var terminal = context.Terminal ? new TerminalScreen(context.Out, context.Err) : null;
        var screen = (ChatScreen?)terminal ?? new PlainScreen(context.In, context.Out, context.Err);
        return RunClient(new ChatClient(context, args.Positionals[0], screen), terminal);
    }

    private static async Task<int> RunClient(ChatClient client, TerminalScreen? terminal)
    {
        using (terminal) return await client.RunAsync();
    }
}
