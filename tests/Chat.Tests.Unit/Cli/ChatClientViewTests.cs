using Chat.Api.V1;
using Chat.Cli;
using Google.Protobuf.WellKnownTypes;

namespace Chat.Tests.Cli;

using MessageRow = Chat.Api.V1.MessageRow;
using ReducerResult = Chat.Api.V1.ReducerResult;
using UserRow = Chat.Api.V1.UserRow;

/// <summary>The chat client's pieces without a gateway: typed commands, what the view prints, the terminal's input line.</summary>
public class ChatClientViewTests
{
    private const string Me = "aaaaaaaa11";
    private const string Bob = "bbbbbbbb22";
    private const string Carol = "cccccccc33";

    private sealed class Captured : ChatScreen
    {
        public List<string> Lines { get; } = [];
        public List<string> Errors { get; } = [];
        public override void Line(string text) { lock (Lines) Lines.Add(text); }
        public override void Error(string text) { lock (Lines) Errors.Add(text); }
        public override Task<string?> ReadLineAsync(CancellationToken cancellation) => Task.FromResult<string?>(null);
    }

    private static readonly DateTimeOffset Now = new(2026, 12, 1, 15, 30, 0, TimeSpan.FromHours(2));

    private static (ChatView View, Captured Screen) NewView()
    {
        var screen = new Captured();
        return (new ChatView(Me, screen, new Colors(false), new Colors(false), _ => Task.FromResult(true), () => Now), screen);
    }

    private static UserRow User(string identity, string? name, bool online)
    {
        var row = new UserRow { Identity = identity, Online = online };
        if (name is not null) row.Name = name;
        return row;
    }

    private static MessageRow Row(ulong offset, string sender, string text, DateTimeOffset? sent = null) =>
        new() { Sender = sender, Text = text, Offset = offset, Sent = Timestamp.FromDateTimeOffset(sent ?? Now.AddMinutes(-1)) };

    private static ServerMessage Applied(IEnumerable<UserRow> users, IEnumerable<MessageRow> messages) => new()
    {
        SubscribeApplied = new SubscribeApplied
        {
            RequestId = ChatView.SubscriptionId, Last = true,
            Tables = { new TableRows { Table = "User", Users = { users } }, new TableRows { Table = "Message", Messages = { messages } } },
        },
    };

    private static ServerMessage UserChange(UserRow before, UserRow after) => new()
    {
        TransactionUpdate = new TransactionUpdate { Tables = { new TableUpdate { Table = "User", DeletedUsers = { before }, InsertedUsers = { after } } } },
    };

    [Theory]
    [InlineData("hello", nameof(ChatCommandKind.Send), "hello")]
    [InlineData("  ", nameof(ChatCommandKind.None), "")]
    [InlineData("/name Bob", nameof(ChatCommandKind.SetName), "Bob")]
    [InlineData("/nick  Bob ", nameof(ChatCommandKind.SetName), "Bob")]
    [InlineData("/name", nameof(ChatCommandKind.SetName), "")]
    [InlineData("/who", nameof(ChatCommandKind.Who), "")]
    [InlineData("/HELP", nameof(ChatCommandKind.Help), "")]
    [InlineData("/more", nameof(ChatCommandKind.More), "")]
    [InlineData("/quit", nameof(ChatCommandKind.Quit), "")]
    [InlineData("/shrug oh well", nameof(ChatCommandKind.Unknown), "/shrug")]
    [InlineData("//shrug", nameof(ChatCommandKind.Send), "/shrug")]
    [InlineData("/ not a command", nameof(ChatCommandKind.Send), "/ not a command")]
    public void Typed_lines_are_understood(string line, string kind, string argument)
    {
        var command = ChatCommand.Parse(line);
        Assert.Equal(kind, command.Kind.ToString());
        Assert.Equal(argument, command.Argument);
    }

    [Fact]
    public void Joining_shows_the_history_with_local_times_then_who_is_online()
    {
        var (view, screen) = NewView();
        view.Preload([Row(2, Bob, "second"), Row(1, Bob, "first", Now.AddDays(-1))]);
        Assert.Equal(2ul, view.LastShown);
        Assert.Equal("SELECT * FROM Message WHERE offset > 2", view.Subscription().Queries[1]);

        view.Handle(Applied([User(Me, null, true), User(Bob, "Bob", true), User(Carol, "Carol", false)], [Row(3, Me, "mine")]));

        Assert.Equal([
            "[2026-11-30 15:30] Bob: first",
            "[15:29] Bob: second",
            "[15:29] aaaaaaaa: mine",
            "Online: aaaaaaaa (you), Bob.",
        ], screen.Lines);
        Assert.True(view.Ready.IsCompletedSuccessfully);
        Assert.Equal(1ul, view.OldestShown);
    }

    [Fact]
    public void Connects_leaves_and_renames_are_told_and_who_follows_them()
    {
        var (view, screen) = NewView();
        view.Handle(Applied([User(Me, null, true)], []));
        Assert.Equal("Online: aaaaaaaa (you); nobody else.", screen.Lines.Single());

        view.Handle(new ServerMessage { TransactionUpdate = new TransactionUpdate { Tables = { new TableUpdate { Table = "User", InsertedUsers = { User(Bob, null, true) } } } } });
        view.Handle(UserChange(User(Bob, null, true), User(Bob, "Bob", true)));
        view.Who();
        view.Handle(UserChange(User(Bob, "Bob", true), User(Bob, "Bob", false)));
        view.Who();

        Assert.Equal([
            "Online: aaaaaaaa (you); nobody else.",
            "User bbbbbbbb connected.",
            "User bbbbbbbb renamed to Bob.",
            "Online: aaaaaaaa (you), Bob.",
            "User Bob disconnected.",
            "Online: aaaaaaaa (you); nobody else.",
        ], screen.Lines);
    }

    [Fact]
    public void A_resubscription_after_a_reconnect_asks_from_the_last_offset_and_shows_each_message_once()
    {
        var (view, screen) = NewView();
        view.Handle(Applied([User(Me, null, true), User(Bob, "Bob", true)], [Row(1, Bob, "one"), Row(2, Bob, "two")]));
        screen.Lines.Clear();

        view.Resubscribing();
        Assert.False(view.Ready.IsCompleted);
        Assert.Equal("SELECT * FROM Message WHERE offset > 2", view.Subscription().Queries[1]);
        // A snapshot that overlaps what was shown (were the gateway to send more than asked) adds only what is new,
        // and presence that changed while away is told.
        view.Handle(Applied([User(Me, null, true), User(Bob, "Bob", false)], [Row(2, Bob, "two"), Row(3, Bob, "three while away")]));

        Assert.Equal(["User Bob disconnected.", "[15:29] Bob: three while away"], screen.Lines);
        Assert.True(view.Ready.IsCompletedSuccessfully);
        Assert.Equal(3ul, view.LastShown);
    }

    [Fact]
    public void A_call_without_an_answer_is_kept_for_the_next_connection_and_a_replayed_answer_settles_it()
    {
        var (view, _) = NewView();
        var call = new CallReducer { RequestId = 5, Reducer = "send_message", ArgsJson = """["hi"]""", IdempotencyKey = "k5" };
        view.Track(call, expectUpdate: true);
        Assert.Equal([call], view.Unanswered());

        // After a reconnect it is sent again; the gateway answers from its key, and the row came with the snapshot.
        view.Handle(new ServerMessage { ReducerResult = new ReducerResult { RequestId = 5, Reducer = "send_message", Outcome = new ReducerOutcome { Code = 0, Replayed = true } } });
        Assert.Empty(view.Unanswered());
        Assert.True(view.Settled().IsCompleted);
    }

    [Fact]
    public void Older_messages_are_printed_between_rules_and_move_the_paging_point()
    {
        var (view, screen) = NewView();
        view.Preload([Row(21, Bob, "twenty-one")]);
        view.Handle(Applied([User(Bob, "Bob", true)], []));
        screen.Lines.Clear();

        view.PrintOlder([Row(20, Bob, "twenty"), Row(19, Bob, "nineteen")]);
        view.PrintOlder([]);

        Assert.Equal(["--- 2 older messages ---", "[15:29] Bob: nineteen", "[15:29] Bob: twenty", "--- end of older messages ---", "No older messages."], screen.Lines);
        Assert.Equal(19ul, view.OldestShown);
        Assert.Equal(21ul, view.LastShown);
    }

    [Fact]
    public void A_line_printed_while_typing_goes_above_the_input_line_which_is_drawn_again()
    {
        var terminal = new StringWriter();
        var editor = new LineEditor(terminal, "> ");
        editor.Start();
        foreach (var c in "hel") Assert.Null(editor.Key(new ConsoleKeyInfo(c, (ConsoleKey)char.ToUpperInvariant(c), false, false, false)));
        terminal.GetStringBuilder().Clear();

        editor.Print("[15:29] Bob: hi");

        Assert.Equal("\r\u001b[2K[15:29] Bob: hi\r\n\r\u001b[2K> hel", terminal.ToString());
        Assert.Equal("hel", editor.Typed);
        Assert.Null(editor.Key(new ConsoleKeyInfo('\b', ConsoleKey.Backspace, false, false, false)));
        Assert.Null(editor.Key(new ConsoleKeyInfo('p', ConsoleKey.P, false, false, false)));
        Assert.Equal("hep", editor.Key(new ConsoleKeyInfo('\r', ConsoleKey.Enter, false, false, false)));
        Assert.Equal("", editor.Typed);
        Assert.Equal("/more", editor.Key(new ConsoleKeyInfo('\0', ConsoleKey.PageUp, false, false, false)));
        Assert.Null(editor.Key(new ConsoleKeyInfo('\u0004', ConsoleKey.D, false, false, true)));
        Assert.True(editor.Ended);
    }
}
