using System.Globalization;
using Chat.Api.V1;
using Grpc.Core;

namespace Chat.Cli;

/// <summary>
/// <c>chat client</c>: reads the last messages with SQL, subscribes to what comes after them, and then handles typed
/// lines. When the stream drops (the stack restarts, the network fails) it connects again with backoff and
/// subscribes from the last offset it showed, so nothing is missed or shown twice, and sends again, with their keys,
/// the calls that had no answer.
/// </summary>
internal sealed class ChatClient(CliContext context, string database, ChatScreen screen)
{
    /// <summary>How many messages of the history a client shows when it joins, and each <c>/more</c> adds.</summary>
    public const int PageLength = 20;

    /// <summary>How long a leaving client waits for the answers to the calls it made.</summary>
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(8);

    private ChatView? _view;
    private uint _requests = ChatView.SubscriptionId;

    public async Task<int> RunAsync()
    {
        var first = await ConnectSession.OpenAsync(context, database);
        var view = _view = new ChatView(first.Hello.Identity, screen, context.Colors, context.ErrorColors, first.SendAsync);
        Live? live;
        try
        {
            view.Preload(await PageAsync(null));
            live = await SubscribeAsync(first);
        }
        catch
        {
            first.Dispose();
            throw;
        }
        if (live is null)
        {
            first.Dispose();
            throw first.Failure ?? (Exception)new CliException("the gateway ended the connection before the chat history arrived");
        }
        view.Status($"Connected to {database} as {view.Me}. Type a message, /help for commands, /quit to leave.");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.Cancellation);
        Task<Live>? reconnecting = null;
        var input = screen.ReadLineAsync(stop.Token);
        try
        {
            while (true)
            {
                var waits = new List<Task> { input };
                if (live is not null) waits.Add(live.Pump);
                if (reconnecting is not null) waits.Add(reconnecting);
                var done = await Task.WhenAny(waits);

                if (done == reconnecting)
                {
                    live = await reconnecting; // a refusal that retrying cannot fix ends the client here
                    reconnecting = null;
                    view.Status($"Reconnected to {database}.");
                    foreach (var call in view.Unanswered()) await live.Session.SendAsync(new ClientMessage { CallReducer = call });
                    continue;
                }
                if (live is not null && done == live.Pump)
                {
                    var failure = live.Session.Failure;
                    live.Session.Dispose();
                    live = null;
                    if (failure is not null && !Transient(failure)) throw failure;
                    view.Send = _ => Task.FromResult(false);
                    view.Status($"Lost the connection to {database} ({Reason(failure)}); reconnecting…");
                    reconnecting = ReconnectAsync(stop.Token);
                    continue;
                }

                string? line;
                try
                {
                    line = await input;
                }
                catch (OperationCanceledException)
                {
                    break; // Ctrl+C: leave like /quit
                }
                if (line is null || !await HandleAsync(line, live)) break;
                input = screen.ReadLineAsync(stop.Token);
            }

            // Input that ends right after a line (a pipe) still sees that line's outcome and its message echoed.
            if (live is not null && !context.Cancellation.IsCancellationRequested)
                await Task.WhenAny(view.Settled(), live.Pump, Task.Delay(SettleTimeout));
            if (view.Unanswered().Count is > 0 and var unsent && live is null)
                view.Error($"left while disconnected: {unsent} line{(unsent == 1 ? "" : "s")} may not have been sent");
        }
        finally
        {
            await stop.CancelAsync();
            if (reconnecting is not null)
            {
                try { live = await reconnecting; }
                catch (Exception e) when (e is OperationCanceledException or RpcException or CliException) { }
            }
            if (live is not null)
            {
                await live.Session.CloseAsync();
                await live.Pump;
                live.Session.Dispose();
            }
        }
        return ExitCodes.Ok;
    }

    /// <summary>A connection whose subscription is applied, and the task that hands what it receives to the view.</summary>
    private sealed record Live(ConnectSession Session, Task Pump);

    /// <summary>Subscribes on a new session and waits for the snapshot; null when the stream ended first.</summary>
    private async Task<Live?> SubscribeAsync(ConnectSession session)
    {
        var view = _view!;
        view.Resubscribing();
        view.Send = session.SendAsync;
        var pump = Task.Run(async () =>
        {
            await foreach (var message in session.Messages.ReadAllAsync()) view.Handle(message);
        });
        await session.SendAsync(new ClientMessage { Subscribe = view.Subscription() });
        await Task.WhenAny(view.Ready, pump);
        if (view.Ready.IsCompletedSuccessfully) return new Live(session, pump);
        if (view.Ready.IsFaulted) await view.Ready; // throws the refusal
        return null;
    }

    private async Task<Live> ReconnectAsync(CancellationToken cancellation)
    {
        var delay = FirstRetry;
        while (true)
        {
            await Task.Delay(delay + TimeSpan.FromMilliseconds(Random.Shared.Next(100)), cancellation);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LastRetry.Ticks));
            ConnectSession session;
            try
            {
                session = await ConnectSession.OpenAsync(context, database);
            }
            catch (RpcException e) when (Transient(e))
            {
                continue;
            }
            catch (CliException)
            {
                continue; // the stream ended before the identity token: a gateway on its way down
            }
            var live = await SubscribeAsync(session);
            if (live is not null) return live;
            var failure = session.Failure;
            session.Dispose();
            if (failure is not null && !Transient(failure)) throw failure;
        }
    }

    /// <summary>Failures that a later attempt can get past: the gateway or the cluster behind it being away.</summary>
    private static bool Transient(RpcException e) => e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown
        or StatusCode.Cancelled or StatusCode.DeadlineExceeded or StatusCode.Aborted or StatusCode.ResourceExhausted;

    private static string Reason(RpcException? failure) =>
        failure is null ? "the gateway ended the stream"
        : CliProgram.Unreachable(failure) ?? (string.IsNullOrEmpty(failure.Status.Detail) ? failure.StatusCode.ToString() : failure.Status.Detail);

    /// <summary>One typed line; false when it asks to leave.</summary>
    private async Task<bool> HandleAsync(string line, Live? live)
    {
        var view = _view!;
        var command = ChatCommand.Parse(line);
        switch (command.Kind)
        {
            case ChatCommandKind.None:
                return true;
            case ChatCommandKind.Quit:
                return false;
            case ChatCommandKind.Help:
                foreach (var help in ChatCommand.Help.Split('\n')) view.Notice(help.TrimEnd());
                return true;
            case ChatCommandKind.Who:
                view.Who();
                return true;
            case ChatCommandKind.Unknown:
                view.Error(ChatCommand.Refusal(command.Argument));
                return true;
            case ChatCommandKind.More:
                await MoreAsync();
                return true;
        }
        var (reducer, argument) = command.Kind == ChatCommandKind.SetName ? ("set_name", command.Argument) : ("send_message", command.Argument);
        var call = new CallReducer
        {
            RequestId = ++_requests, Reducer = reducer, IdempotencyKey = Guid.NewGuid().ToString("N"),
            ArgsJson = JsonOutput.Write(w => { w.WriteStartArray(); w.WriteStringValue(argument); w.WriteEndArray(); }),
        };
        view.Track(call, expectUpdate: reducer == "send_message");
        if (live is null || !await live.Session.SendAsync(new ClientMessage { CallReducer = call }))
            view.Status("Not connected: this is sent once the connection is back.");
        return true;
    }

    private async Task MoreAsync()
    {
        var view = _view!;
        if (view.OldestShown <= 1)
        {
            view.Notice("No older messages.");
            return;
        }
        try
        {
            view.PrintOlder(await PageAsync(view.OldestShown));
        }
        catch (RpcException e)
        {
            view.Error($"could not read older messages: {Reason(e)}");
        }
    }

    /// <summary>The <see cref="PageLength"/> messages before <paramref name="before"/> (the newest ones when null), read with SQL.</summary>
    private async Task<IReadOnlyList<MessageRow>> PageAsync(ulong? before)
    {
        var where = before is { } offset ? $"WHERE offset < {offset.ToString(CultureInfo.InvariantCulture)} " : "";
        var response = await context.Chat.SqlAsync(
            new SqlRequest { Database = database, Query = $"SELECT * FROM Message {where}ORDER BY offset DESC LIMIT {PageLength}" },
            await context.AuthorizationAsync(), cancellationToken: context.Cancellation);
        var column = response.Columns.Select((c, i) => (c.Name, i)).ToDictionary(c => c.Name, c => c.i, StringComparer.OrdinalIgnoreCase);
        return response.Rows.Select(row => new MessageRow
        {
            // SQL writes identities as 0x + hex; rows on the stream carry the bare hex.
            Sender = Bare(row.Values[column["sender"]].Identity),
            Sent = row.Values[column["sent"]].Timestamp,
            Text = row.Values[column["text"]].String,
            Offset = row.Values[column["offset"]].U64,
        }).ToList();
    }

    private static string Bare(string identity) => identity.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? identity[2..] : identity;
}
