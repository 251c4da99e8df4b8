using Chat.Api.V1;
using Chat.Cli;

namespace Chat.Tests.Cli;

/// <summary>The chat client's display, fed directly: what it prints for what the gateway sends.</summary>
public class ChatViewTests
{
    private const string Me = "0x" + "ab";

    private static (ChatView View, CapturedOutput Out) NewView()
    {
        var output = new CapturedOutput();
        var config = new ConfigStore(Path.Combine(Path.GetTempPath(), $"chat-view-{Guid.NewGuid():N}"));
        var context = new CliContext(TextReader.Null, output, TextWriter.Null, config, new CliRunOptions(), new ParsedArguments());
        return (new ChatView(Me, context), output);
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

        Assert.Equal(["hello", "before delete", "after"], output.Lines.Select(l => l[(l.IndexOf(": ", StringComparison.Ordinal) + 2)..]));
    }
}
