using Chat.Grains;

namespace Chat.Tests;

/// <summary>The module's rules alone: no Orleans, no PostgreSQL.</summary>
public class ChatReducersTests
{
    /// <summary>send_message with a database bucket of its own (full), for rules that are about one sender.</summary>
    private static Outcome<string> Send(string? text, UserRow? sender, ModuleSettings settings, ref TokenBucket bucket, DateTime now)
    {
        var database = new TokenBucket();
        return ChatReducers.SendMessage(text, sender, settings, ref bucket, ref database, now);
    }

    private static Outcome<UserState> Rename(UserState? user, string? name, ModuleSettings settings)
    {
        var bucket = new TokenBucket();
        return ChatReducers.SetName(user, name, settings, ref bucket, T0);
    }

    [Fact]
    public void The_database_ceiling_holds_however_many_identities_send()
    {
        var settings = Defaults with { MessagesPerSecond = 20, MessageBurst = 100, DatabaseMessagesPerSecond = 10, DatabaseMessageBurst = 50 };
        var database = new TokenBucket();
        var accepted = 0;
        for (var identity = 0; identity < 20; identity++)
        {
            var bucket = new TokenBucket(); // a fresh identity: a full bucket of its own
            for (var i = 0; i < 100; i++)
                if (ChatReducers.SendMessage("hi", null, settings, ref bucket, ref database, T0).IsOk) accepted++;
        }
        Assert.Equal(50, accepted);
        var fresh = new TokenBucket();
        var refused = ChatReducers.SendMessage("hi", null, settings, ref fresh, ref database, T0);
        Assert.Equal(ReducerStatus.ResourceExhausted, refused.Status);
        Assert.Equal("This database is taking too many messages: at most 10 per second from everyone together, with bursts of 50; wait a moment and try again", refused.Error);
        // The refused message cost its sender nothing: with the ceiling refilled, its own burst is whole.
        Assert.True(ChatReducers.SendMessage("hi", null, settings, ref fresh, ref database, T0.AddSeconds(1)).IsOk);
        Assert.True(fresh.IsFullAt(T0.AddSeconds(1).AddMilliseconds(50), settings.MessagesPerSecond, settings.MessageBurst));
    }

    [Fact]
    public void Without_a_rate_limit_there_is_no_ceiling_either()
    {
        var settings = Defaults with { MessagesPerSecond = 0, DatabaseMessagesPerSecond = 1, DatabaseMessageBurst = 1 };
        var (bucket, database) = (new TokenBucket(), new TokenBucket());
        for (var i = 0; i < 100; i++)
            Assert.True(ChatReducers.SendMessage("hi", null, settings, ref bucket, ref database, T0).IsOk);
    }

    [Fact]
    public void Renames_are_limited_like_messages_and_refused_ones_cost_nothing()
    {
        var settings = Defaults with { MessagesPerSecond = 2, MessageBurst = 3 };
        var bucket = new TokenBucket();
        Assert.False(ChatReducers.SetName(Known(), "", settings, ref bucket, T0).IsOk);
        for (var i = 0; i < 3; i++)
            Assert.True(ChatReducers.SetName(Known(), $"name {i}", settings, ref bucket, T0).IsOk);
        var limited = ChatReducers.SetName(Known(), "one more", settings, ref bucket, T0);
        Assert.Equal(ReducerStatus.ResourceExhausted, limited.Status);
        Assert.Equal("Too many name changes: at most 2 per second with bursts of 3; wait a moment and try again", limited.Error);
        Assert.True(ChatReducers.SetName(Known(), "later", settings, ref bucket, T0.AddMilliseconds(500)).IsOk);
        var unlimited = Defaults with { MessagesPerSecond = 0 };
        for (var i = 0; i < 100; i++)
            Assert.True(ChatReducers.SetName(Known(), "again", unlimited, ref bucket, T0).IsOk);
    }

    private static readonly ModuleSettings Defaults = ModuleSettings.Default;
    private static readonly Identity Alice = Identity.Parse(new string('a', 64));
    private static readonly ConnectionId First = ConnectionId.New(), Second = ConnectionId.New();
    private static readonly DateTime T0 = new(2026, 1, 13, 12, 0, 0, DateTimeKind.Utc);

    private static UserState Known(string? name = null, bool online = true) => new(new UserRow(Alice, name, online), []);

    [Fact]
    public void Set_name_rejects_the_empty_name_with_the_seeds_message()
    {
        var outcome = Rename(Known(), "", Defaults);
        Assert.Equal(ReducerStatus.InvalidArgument, outcome.Status);
        Assert.Equal("Names must not be empty", outcome.Error);
    }

    [Fact]
    public void Set_name_for_an_unknown_user_fails_with_the_seeds_message()
    {
        var outcome = Rename(null, "alice", Defaults);
        Assert.Equal(ReducerStatus.FailedPrecondition, outcome.Status);
        Assert.Equal("Cannot set name for unknown user", outcome.Error);
    }

    [Fact]
    public void Set_name_validates_before_looking_up_the_user_as_the_seed_does()
    {
        Assert.Equal("Names must not be empty", Rename(null, "", Defaults).Error);
    }

    [Fact]
    public void Set_name_keeps_identity_and_online_and_sets_the_name()
    {
        var outcome = Rename(Known(online: true), "alice", Defaults);
        Assert.True(outcome.IsOk);
        Assert.Equal(new UserRow(Alice, "alice", true), outcome.Value!.Row);
    }

    [Fact]
    public void Names_are_normalised_to_NFC()
    {
        var decomposed = "Jose\u0301"; // e + combining acute
        var outcome = ChatReducers.ValidateName(decomposed, Defaults);
        Assert.Equal("Jos\u00e9", outcome.Value);
    }

    [Theory]
    [InlineData("bad\u0007bell", "U+0007")]
    [InlineData("line\nbreak", "U+000A")]
    [InlineData("tab\there", "U+0009")]
    [InlineData("evil\u202Eright-to-left", "U+202E")]
    [InlineData("private\uE000use", "U+E000")]
    public void Names_reject_control_and_non_printable_characters(string name, string codePoint)
    {
        var outcome = ChatReducers.ValidateName(name, Defaults);
        Assert.Equal(ReducerStatus.InvalidArgument, outcome.Status);
        Assert.Equal($"Names must not contain control or other non-printable characters (found {codePoint})", outcome.Error);
    }

    [Theory]
    [InlineData("Zoë")]
    [InlineData("李小龍")]
    [InlineData("family 👨‍👩‍👧")] // zero-width joiners hold the emoji together
    [InlineData("a b")]
    public void Printable_names_from_any_script_are_accepted(string name) =>
        Assert.True(ChatReducers.ValidateName(name, Defaults).IsOk);

    [Fact]
    public void Names_of_only_white_space_are_rejected() =>
        Assert.Equal("Names must not be only white space", ChatReducers.ValidateName("   ", Defaults).Error);

    [Fact]
    public void Names_longer_than_the_limit_are_rejected_counting_characters_not_utf16_units()
    {
        var settings = Defaults with { MaxNameLength = 3 };
        Assert.True(ChatReducers.ValidateName("😀😀😀", settings).IsOk); // 6 UTF-16 units, 3 characters
        var outcome = ChatReducers.ValidateName("abcd", settings);
        Assert.Equal("Names must be at most 3 characters long (this one has 4)", outcome.Error);
        Assert.Equal(64, Defaults.MaxNameLength);
        Assert.True(ChatReducers.ValidateName(new string('x', 64), Defaults).IsOk);
        Assert.False(ChatReducers.ValidateName(new string('x', 65), Defaults).IsOk);
    }

    [Fact]
    public void Lone_surrogates_are_not_text()
    {
        Assert.Equal("Names must be valid Unicode text", ChatReducers.ValidateName("a\uD800b", Defaults).Error);
        Assert.Equal("Messages must be valid Unicode text", ChatReducers.ValidateMessage("a\uDC00", Defaults).Error);
    }

    [Fact]
    public void Messages_reject_the_empty_text_with_the_seeds_message()
    {
        var bucket = new TokenBucket();
        var outcome = Send("", null, Defaults, ref bucket, T0);
        Assert.Equal(ReducerStatus.InvalidArgument, outcome.Status);
        Assert.Equal("Messages must not be empty", outcome.Error);
    }

    [Fact]
    public void Messages_keep_newlines_and_tabs_but_not_other_controls()
    {
        Assert.True(ChatReducers.ValidateMessage("line one\nline two\tindented\n", Defaults).IsOk);
        Assert.Equal("Messages must not contain control characters other than newline and tab (found U+001B)",
            ChatReducers.ValidateMessage("colour \u001b[31m", Defaults).Error);
    }

    [Fact]
    public void Messages_longer_than_the_limit_are_rejected()
    {
        Assert.True(ChatReducers.ValidateMessage(new string('m', 4096), Defaults).IsOk);
        Assert.Equal("Messages must be at most 4096 characters long (this one has 4097)",
            ChatReducers.ValidateMessage(new string('m', 4097), Defaults).Error);
    }

    [Fact]
    public void Nameless_senders_are_refused_only_when_the_database_asks()
    {
        var strict = Defaults with { RequireNameToSend = true };
        var bucket = new TokenBucket();
        Assert.True(Send("hi", null, Defaults, ref bucket, T0).IsOk);
        var refused = Send("hi", new UserRow(Alice, null, true), strict, ref bucket, T0);
        Assert.Equal(ReducerStatus.FailedPrecondition, refused.Status);
        Assert.Equal("Set a name before sending messages", refused.Error);
        Assert.True(Send("hi", new UserRow(Alice, "alice", true), strict, ref bucket, T0).IsOk);
    }

    [Fact]
    public void The_rate_limit_allows_a_burst_then_refills_at_the_configured_rate()
    {
        var settings = Defaults with { MessagesPerSecond = 2, MessageBurst = 3 };
        var bucket = new TokenBucket();
        for (var i = 0; i < 3; i++)
            Assert.True(Send("hi", null, settings, ref bucket, T0).IsOk);
        var limited = Send("hi", null, settings, ref bucket, T0);
        Assert.Equal(ReducerStatus.ResourceExhausted, limited.Status);
        Assert.Equal("Too many messages: at most 2 per second with bursts of 3; wait a moment and try again", limited.Error);
        Assert.False(Send("hi", null, settings, ref bucket, T0.AddMilliseconds(400)).IsOk);
        Assert.True(Send("hi", null, settings, ref bucket, T0.AddMilliseconds(500)).IsOk);
    }

    [Fact]
    public void A_rejected_message_costs_no_token()
    {
        var settings = Defaults with { MessagesPerSecond = 1, MessageBurst = 1 };
        var bucket = new TokenBucket();
        Assert.False(Send("", null, settings, ref bucket, T0).IsOk);
        Assert.True(Send("ok", null, settings, ref bucket, T0).IsOk);
    }

    [Fact]
    public void Zero_messages_per_second_turns_the_limit_off()
    {
        var settings = Defaults with { MessagesPerSecond = 0, MessageBurst = 0 };
        var bucket = new TokenBucket();
        for (var i = 0; i < 1000; i++)
            Assert.True(Send("hi", null, settings, ref bucket, T0).IsOk);
    }

    [Fact]
    public void Identity_connected_inserts_a_new_user_online_without_a_name()
    {
        var user = ChatReducers.IdentityConnected(null, new ReducerCaller(Alice, First));
        Assert.Equal(new UserRow(Alice, null, true), user.Row);
    }

    [Fact]
    public void Identity_connected_marks_a_returning_user_online_and_keeps_the_name()
    {
        var user = ChatReducers.IdentityConnected(Known("alice", online: false), new ReducerCaller(Alice, First));
        Assert.Equal(new UserRow(Alice, "alice", true), user.Row);
    }

    [Fact]
    public void A_user_stays_online_until_the_last_connection_ends()
    {
        var user = ChatReducers.IdentityConnected(null, new ReducerCaller(Alice, First));
        user = ChatReducers.IdentityConnected(user, new ReducerCaller(Alice, Second));
        var (afterFirst, warning) = ChatReducers.IdentityDisconnected(user, new ReducerCaller(Alice, First));
        Assert.Null(warning);
        Assert.True(afterFirst!.Row.Online);
        var (afterSecond, _) = ChatReducers.IdentityDisconnected(afterFirst, new ReducerCaller(Alice, Second));
        Assert.False(afterSecond!.Row.Online);
    }

    [Fact]
    public void Disconnecting_an_unknown_user_is_a_warning_not_an_error()
    {
        var (user, warning) = ChatReducers.IdentityDisconnected(null, new ReducerCaller(Alice, First));
        Assert.Null(user);
        Assert.Equal($"Disconnect event for unknown user with identity {new string('a', 64)}", warning);
    }

    [Fact]
    public void Timestamps_have_microsecond_precision_and_strictly_increase_even_if_the_clock_does_not()
    {
        var now = T0.AddTicks(1234567); // 123.4567 ms
        var first = ChatReducers.NextTimestamp(now, DateTime.MinValue);
        Assert.Equal(T0.AddTicks(1234560), first);
        var second = ChatReducers.NextTimestamp(now, first);
        Assert.Equal(first.AddTicks(10), second);
        var third = ChatReducers.NextTimestamp(now.AddSeconds(-5), second); // clock stepped back
        Assert.True(third > second);
        Assert.Equal(DateTimeKind.Utc, third.Kind);
    }

    [Fact]
    public void Unique_name_keys_ignore_case_and_exist_only_when_asked_for()
    {
        var unique = Defaults with { UniqueNames = true };
        Assert.Equal(ChatReducers.UniqueNameKey("Alice", unique), ChatReducers.UniqueNameKey("aLICE", unique));
        Assert.Null(ChatReducers.UniqueNameKey("Alice", Defaults));
    }

    [Fact]
    public void Settings_that_make_no_sense_are_refused()
    {
        Assert.Null(Defaults.Validate());
        Assert.NotNull((Defaults with { MaxNameLength = 0 }).Validate());
        Assert.NotNull((Defaults with { MessagesPerSecond = -1 }).Validate());
        Assert.NotNull((Defaults with { MessagesPerSecond = 5, MessageBurst = 0 }).Validate());
    }
}
