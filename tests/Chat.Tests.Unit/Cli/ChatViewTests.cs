using Chat.Api.V1;
using Chat.Cli;

namespace Chat.Tests.Cli;

/// <summary>The chat client's display, fed directly: what it prints for what the gateway sends.</summary>
public class ChatViewTests
{
    private const string Me = "0x" + "ab";

    private static (ChatView View, CapturedOutput Out) NewView(Func<Chat.Api.V1.ClientMessage, Task<bool>>? send = null)
    {
        var output = new CapturedOutput();
        var config = new ConfigStore(Path.Combine(Path.GetTempPath(), $"chat-view-{Guid.NewGuid():N}"));
        var context = new CliContext(TextReader.Null, output, TextWriter.Null, config, new CliRunOptions(), new ParsedArguments());
        return (new ChatView(Me, context, send ?? (_ => Task.FromResult(true))), output);
    }

    [Fact]
    public async Task A_call_storage_could_not_take_is_sent_again_with_the_same_key_and_settles_once_answered()
    {
        var resent = new TaskCompletionSource<Chat.Api.V1.ClientMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (view, _) = NewView(message => { resent.TrySetResult(message); return Task.FromResult(true); });
        var call = new Chat.Api.V1.CallReducer { RequestId = 7, Reducer = "set_name", ArgsJson = """["Alice"]""", IdempotencyKey = "key-7" };
        view.Track(call, expectUpdate: false);

        view.Handle(new Chat.Api.V1.ServerMessage { ReducerResult = new Chat.Api.V1.ReducerResult
        {
            RequestId = 7, Reducer = "set_name", Outcome = new Chat.Api.V1.ReducerOutcome { Code = (int)Grpc.Core.StatusCode.Unavailable, Error = "Storage is unavailable" },
        } });
        Assert.False(view.Settled().IsCompleted);
        var again = (await resent.Task.WaitAsync(TimeSpan.FromSeconds(30))).CallReducer;
        Assert.Equal(call, again); // same request id, same key: a retry, not a new call

        view.Handle(new Chat.Api.V1.ServerMessage { ReducerResult = new Chat.Api.V1.ReducerResult
        {
            RequestId = 7, Reducer = "set_name", Outcome = new Chat.Api.V1.ReducerOutcome { Code = 0, Replayed = true },
        } });
        Assert.True(view.Settled().IsCompleted);
    }

    private static Chat.Api.V1.MessageRow Row(ulong offset, string text) => new() { Sender = Me, Text = text, Offset = offset, Sent = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow) };

    private static ServerMessage Live(params Chat.Api.V1.MessageRow[] rows)
    {
        var table = new TableUpdate { Table = "Message" };
        table.InsertedMessages.AddRange(rows);
        return new ServerMessage { TransactionUpdate = new TransactionUpdate { Reducer = "send_message", Status = "committed", Tables = { table } } };
    }

    [Fact]
    public void A_message_delivered_again_by_offset_is_shown_once()
    {
        var (view, output) = NewView();
        var history = new TableRows { Table = "Message", Messages = { Row(1, "hello") } };
        view.Handle(new ServerMessage { SubscribeApplied = new SubscribeApplied { RequestId = ChatView.SubscriptionId, Last = true, Tables = { history } } });
        view.Handle(Live(Row(1, "hello"), Row(2, "before delete"))); // the history's last message again, then a new one
        view.Handle(Live(Row(2, "before delete")));                  // and the new one again
        view.Handle(Live(Row(3, "after")));

        Assert.Equal(["hello", "before delete", "after"], output.Lines.Where(l => l.StartsWith('[')).Select(l => l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..]));
    }
}
