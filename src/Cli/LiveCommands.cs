using System.Text.Json;
using Chat.Api.V1;

namespace Chat.Cli;

/// <summary>subscribe and client: commands that hold a Connect stream open.</summary>
internal static class LiveCommands
{
    private static readonly OptionSpec Updates = new("num-updates", 'n', "N", "stop after N updates");
    private static readonly OptionSpec Timeout = new("timeout", 't', "seconds", "stop this many seconds after the subscription is applied");
    private static readonly OptionSpec PrintInitial = new("print-initial-update", null, null, "print the rows the queries match now, as the first line");

    /// <summary>How many messages of the history a client shows when it joins.</summary>
    public const int HistoryLength = 20;

    /// <summary>How long a leaving client waits for the answers to the calls it made.</summary>
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(5);

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
            The quickstart's chat client. Connects as your identity, shows the last 20 messages, then every
            new message as `name: text`, and says when other users connect, disconnect or rename. Type:

              a line          to send it as a message
              /name <name>    to set your name
              /quit           to leave (so do Ctrl+C and the end of input)

            Errors (an empty name, a message too long) are printed and the client keeps running. Leaving
            closes the connection, which marks you offline.

            Example:
              chat client quickstart
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

    private static async Task<int> Client(CliContext context, ParsedArguments args)
    {
        var database = args.Positionals[0];
        using var session = await ConnectSession.OpenAsync(context, database);
        var view = new ChatView(session.Hello.Identity, context, session.SendAsync);
        await session.SendAsync(new ClientMessage
        {
            Subscribe = new Subscribe { RequestId = ChatView.SubscriptionId, Queries = { "SELECT * FROM User", "SELECT * FROM Message" } },
        });
        var printing = Task.Run(async () =>
        {
            await foreach (var message in session.Messages.ReadAllAsync()) view.Handle(message);
        });

        await Task.WhenAny(view.Ready, printing);
        if (!view.Ready.IsCompletedSuccessfully)
        {
            await session.CloseAsync();
            await printing;
            if (view.Ready.IsFaulted) await view.Ready; // throws the subscription error
            if (session.Failure is { } early) throw early;
            throw new CliException("the gateway ended the connection before the chat history arrived");
        }
        context.Err.WriteLine(context.ErrorColors.Dim(
            $"Connected to {database} as {view.Me}. Type a message, /name <name> to set your name, /quit to leave."));

        var endedByServer = false;
        uint requests = ChatView.SubscriptionId;
        while (true)
        {
            string? line;
            try
            {
                var read = ReadLineAsync(context.In, context.Cancellation);
                if (await Task.WhenAny(read, printing) == printing)
                {
                    endedByServer = true;
                    break;
                }
                line = await read;
            }
            catch (OperationCanceledException)
            {
                break; // Ctrl+C: leave like /quit
            }
            if (line is null) break;
            var command = line.Trim();
            if (command == "/quit") break;
            string reducer, argument;
            if (command == "/name" || command.StartsWith("/name ", StringComparison.Ordinal))
                (reducer, argument) = ("set_name", command[5..].Trim());
            else if (command.Length == 0)
                continue;
            else
                (reducer, argument) = ("send_message", line);
            var call = new CallReducer
            {
                RequestId = ++requests, Reducer = reducer, IdempotencyKey = Guid.NewGuid().ToString("N"),
                ArgsJson = JsonOutput.Write(w => { w.WriteStartArray(); w.WriteStringValue(argument); w.WriteEndArray(); }),
            };
            view.Track(call, expectUpdate: reducer == "send_message");
            if (!await session.SendAsync(new ClientMessage { CallReducer = call }))
            {
                endedByServer = true;
                break;
            }
        }

        // Input that ends right after a line (a pipe) still sees that line's outcome and its message echoed.
        if (!endedByServer) await Task.WhenAny(view.Settled(), printing, Task.Delay(SettleTimeout));
        await session.CloseAsync();
        await printing;
        if (session.Failure is { } failure) throw failure;
        if (endedByServer) throw new CliException("the gateway closed the connection");
        return ExitCodes.Ok;
    }

    /// <summary>A line of input without blocking the caller; a console read is left behind on Ctrl+C.</summary>
    private static Task<string?> ReadLineAsync(TextReader input, CancellationToken cancellation) =>
        Task.Run(async () => await input.ReadLineAsync(cancellation), CancellationToken.None).WaitAsync(cancellation);
}

/// <summary>What a chat client knows and prints: the users by identity, then messages as they come.</summary>
internal sealed class ChatView(string me, CliContext context, Func<ClientMessage, Task<bool>> send)
{
    /// <summary>Attempts of a call that storage could not take (UNAVAILABLE), with the same key each time.</summary>
    private const int MaxAttempts = 4;

    public const uint SubscriptionId = 1;

    private readonly Dictionary<string, UserRow> _users = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<UserRow> _snapshotUsers = [];
    private readonly List<MessageRow> _snapshotMessages = [];
    // The subscription delivers each offset once and in order; shown once all the same, should a message come twice.
    private ulong _lastShown;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Colors Colors => context.Colors;

    /// <summary>Completes once the history is printed; fails when the subscription is refused.</summary>
    public Task Ready => _ready.Task;

    public string Me => Name(me);

    /// <summary>Calls made and not yet settled: their result, and for a committed one its own update, are still to come.</summary>
    private readonly Dictionary<uint, (bool Result, bool Update)> _pending = [];
    private readonly Dictionary<uint, (CallReducer Call, int Attempts)> _calls = [];
    private TaskCompletionSource _settled = Completed();

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }

    /// <summary>
    /// A call to wait for when leaving. A committed send_message always inserts a row, so its update always comes;
    /// a set_name that changes nothing (the same name again) has none, so only its result is awaited.
    /// </summary>
    public void Track(CallReducer call, bool expectUpdate)
    {
        lock (_pending)
        {
            if (_pending.Count == 0) _settled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[call.RequestId] = (false, !expectUpdate);
            _calls[call.RequestId] = (call, 1);
        }
    }

    /// <summary>
    /// Sends a call again after storage was unavailable, with its key: if the first attempt committed after all, the
    /// answer is its result and nothing is sent twice. False when the call is not ours or has had its attempts.
    /// </summary>
    private bool Retried(ReducerResult result)
    {
        CallReducer call;
        int attempts;
        lock (_pending)
        {
            if (result.Outcome.Code != (int)Grpc.Core.StatusCode.Unavailable || !_calls.TryGetValue(result.RequestId, out var entry) || entry.Attempts >= MaxAttempts)
                return false;
            (call, attempts) = (entry.Call, entry.Attempts + 1);
            _calls[result.RequestId] = (call, attempts);
        }
        context.Err.WriteLine(context.ErrorColors.Dim($"{result.Reducer} could not be stored yet ({result.Outcome.Error}); trying again"));
        _ = Task.Delay(TimeSpan.FromMilliseconds(250 << attempts)).ContinueWith(_ => send(new ClientMessage { CallReducer = call }), TaskScheduler.Default);
        return true;
    }

    /// <summary>Completes when every call made so far has its result and, when it committed, its update.</summary>
    public Task Settled()
    {
        lock (_pending) return _settled.Task;
    }

    private void Seen(uint requestId, bool result, bool update, bool failed = false)
    {
        lock (_pending)
        {
            if (!_pending.TryGetValue(requestId, out var state)) return;
            state = (state.Result || result, state.Update || update);
            if (failed || state.Result && state.Update)
            {
                _pending.Remove(requestId);
                _calls.Remove(requestId);
            }
            else _pending[requestId] = state;
            if (_pending.Count == 0) _settled.TrySetResult();
        }
    }

    private string Name(string identity) =>
        Values.DisplayName(identity, _users.TryGetValue(identity, out var user) && user.HasName ? user.Name : null);

    public void Handle(ServerMessage message)
    {
        switch (message.MessageCase)
        {
            case ServerMessage.MessageOneofCase.SubscribeApplied when message.SubscribeApplied.RequestId == SubscriptionId:
                foreach (var table in message.SubscribeApplied.Tables)
                {
                    _snapshotUsers.AddRange(table.Users);
                    _snapshotMessages.AddRange(table.Messages);
                }
                if (message.SubscribeApplied.Last) Applied();
                break;
            case ServerMessage.MessageOneofCase.SubscriptionError:
                if (!_ready.Task.IsCompleted) _ready.TrySetException(new CliException($"the subscription was refused: {message.SubscriptionError.Error}"));
                else context.Err.WriteLine(context.ErrorColors.Red($"error: {message.SubscriptionError.Error}"));
                break;
            case ServerMessage.MessageOneofCase.TransactionUpdate when _ready.Task.IsCompleted:
                Apply(message.TransactionUpdate);
                if (message.TransactionUpdate.OwnCall) Seen(message.TransactionUpdate.RequestId, result: false, update: true);
                break;
            case ServerMessage.MessageOneofCase.ReducerResult:
                var result = message.ReducerResult;
                if (Retried(result)) break;
                if (result.Outcome is { Code: not 0 } outcome)
                    context.Err.WriteLine(context.ErrorColors.Red($"error: {(string.IsNullOrEmpty(outcome.Error) ? $"{result.Reducer} failed" : outcome.Error)}"));
                Seen(result.RequestId, result: true, update: false, failed: result.Outcome is not { Code: 0 });
                break;
        }
    }

    private void Applied()
    {
        foreach (var user in _snapshotUsers) _users[user.Identity] = user;
        foreach (var message in _snapshotMessages.OrderBy(m => m.Offset).TakeLast(LiveCommands.HistoryLength)) Print(message);
        _snapshotUsers.Clear();
        _snapshotMessages.Clear();
        _ready.TrySetResult();
    }

    private void Apply(TransactionUpdate update)
    {
        foreach (var table in update.Tables)
        {
            var deleted = new Dictionary<string, UserRow>(StringComparer.OrdinalIgnoreCase);
            foreach (var user in table.DeletedUsers) deleted[user.Identity] = user;
            var inserted = table.InsertedUsers.Select(u => u.Identity).ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var gone in deleted.Keys.Where(k => !inserted.Contains(k))) _users.Remove(gone);
            foreach (var user in table.InsertedUsers)
            {
                var old = deleted.GetValueOrDefault(user.Identity) ?? _users.GetValueOrDefault(user.Identity);
                _users[user.Identity] = user;
                Changed(old, user);
            }
            foreach (var message in table.InsertedMessages.OrderBy(m => m.Offset)) Print(message);
        }
    }

    private void Changed(UserRow? old, UserRow now)
    {
        var mine = string.Equals(now.Identity, me, StringComparison.OrdinalIgnoreCase);
        var name = Values.DisplayName(now.Identity, now.HasName ? now.Name : null);
        if (old is not null && now.HasName && (!old.HasName || old.Name != now.Name))
            Notice($"User {Values.DisplayName(old.Identity, old.HasName ? old.Name : null)} renamed to {now.Name}.");
        if (mine) return;
        if (now.Online && (old is null || !old.Online)) Notice($"User {name} connected.");
        else if (!now.Online && old is { Online: true }) Notice($"User {name} disconnected.");
    }

    private void Notice(string text) => context.Out.WriteLine(Colors.Dim(text));

    private void Print(MessageRow message)
    {
        if (message.Offset <= _lastShown) return;
        _lastShown = message.Offset;
        var sender = Name(message.Sender);
        var mine = string.Equals(message.Sender, me, StringComparison.OrdinalIgnoreCase);
        context.Out.WriteLine($"{(mine ? Colors.Green(sender) : Colors.Cyan(sender))}: {message.Text}");
    }
}
