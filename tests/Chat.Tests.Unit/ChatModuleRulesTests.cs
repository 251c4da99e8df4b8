using Chat.Grains;

namespace Chat.Tests;

/// <summary>The module's reducer table and its access rules alone (ChatModule): no Orleans, no PostgreSQL, no gRPC.</summary>
public class ChatModuleRulesTests
{
    [Fact]
    public void The_table_holds_the_seeds_four_reducers_with_their_parameters_and_callers()
    {
        Assert.Equal(
            ["set_name(name: string) by AnyClient", "send_message(text: string) by AnyClient",
             "identity_connected() by ServerOnConnect", "identity_disconnected() by ServerOnDisconnect"],
            ChatModule.Reducers.Select(r => $"{r.Signature} by {r.CalledBy}"));
        Assert.Equal(["set_name", "send_message"], ChatModule.Reducers.Where(r => r.ClientCallable).Select(r => r.Name));
    }

    [Fact]
    public void Reducer_names_are_unique()
    {
        Assert.Equal(ChatModule.Reducers.Count, ChatModule.Reducers.Select(r => r.Name).Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void A_client_may_call_set_name_and_send_message()
    {
        Assert.Equal(ChatModule.SetName, ChatModule.ClientReducer("set_name", "chat").Value!.Name);
        Assert.Equal(ChatModule.SendMessage, ChatModule.ClientReducer("send_message", "chat").Value!.Name);
    }

    [Theory]
    [InlineData("identity_connected")]
    [InlineData("identity_disconnected")]
    public void Lifecycle_reducers_are_refused_to_clients(string name)
    {
        var outcome = ChatModule.ClientReducer(name, "chat");
        Assert.Equal(ReducerStatus.PermissionDenied, outcome.Status);
        Assert.Contains("lifecycle reducer", outcome.Error);
    }

    [Fact]
    public void An_unknown_reducer_is_not_found_and_the_error_lists_what_a_client_may_call()
    {
        var outcome = ChatModule.ClientReducer("send_mesage", "quickstart-chat");
        Assert.Equal(ReducerStatus.NotFound, outcome.Status);
        Assert.Equal("No reducer 'send_mesage' in database 'quickstart-chat'. Reducers: set_name(name: string), send_message(text: string).", outcome.Error);
    }

    [Fact]
    public void An_unknown_reducer_name_is_escaped_and_bounded_in_the_error()
    {
        var outcome = ChatModule.ClientReducer("evil\nline" + new string('x', 500), "chat");
        Assert.Equal(ReducerStatus.NotFound, outcome.Status);
        Assert.DoesNotContain("\n", outcome.Error);
        Assert.True(outcome.Error!.Length < 300, outcome.Error);
    }

    private static ReducerDefinition SendMessage => ChatModule.Reducers.Single(r => r.Name == ChatModule.SendMessage);

    [Fact]
    public void Arguments_are_a_JSON_array_of_one_string_per_parameter()
    {
        Assert.Equal(["Hello, World!"], SendMessage.ParseArguments("[\"Hello, World!\"]").Value!);
    }

    [Theory]
    [InlineData("not json", "args_json is not valid JSON")]
    [InlineData("{\"text\":\"hi\"}", "args_json must be a JSON array, not an object")]
    [InlineData("[]", "send_message takes 1 argument (text: string) as a JSON array, like [\"Hello, World!\"]; got 0.")]
    [InlineData("", "got 0.")]
    [InlineData("[\"a\",\"b\"]", "got 2.")]
    [InlineData("[42]", "Argument 1 (text) of send_message must be a string, not a number.")]
    [InlineData("[null]", "must be a string, not null.")]
    public void Bad_arguments_are_invalid_and_say_what_is_expected(string json, string expected)
    {
        var outcome = SendMessage.ParseArguments(json);
        Assert.Equal(ReducerStatus.InvalidArgument, outcome.Status);
        Assert.Contains(expected, outcome.Error);
    }

    private static readonly Identity Owner = Identity.Random(), Other = Identity.Random();

    [Fact]
    public void Only_the_owner_may_change_publish_to_or_delete_a_database()
    {
        Assert.Null(ChatModule.MayNotChange("chat", Owner, Owner));
        Assert.Null(ChatModule.MayNotPublish("chat", Owner, Owner));
        Assert.Equal($"Database 'chat' is owned by identity {Owner}; only its owner can change or delete it.", ChatModule.MayNotChange("chat", Owner, Other));
        Assert.Equal($"Database 'chat' is owned by identity {Owner}; only its owner can publish to it.", ChatModule.MayNotPublish("chat", Owner, Other));
    }

    [Fact]
    public void Only_the_owner_may_read_the_module_log()
    {
        Assert.Null(ChatModule.MayNotReadLogs("chat", Owner, Owner));
        Assert.Equal("Only the owner of database 'chat' can read its logs.", ChatModule.MayNotReadLogs("chat", Owner, Other));
    }

    [Fact]
    public void A_call_for_one_user_made_by_another_identity_is_refused()
    {
        Assert.Null(ChatModule.CallerMismatch(ChatModule.SetName, Owner, Owner));
        Assert.Equal($"set_name was routed to the user {Owner} but called by {Other}.", ChatModule.CallerMismatch(ChatModule.SetName, Owner, Other));
    }

    [Fact]
    public void Unique_names_use_the_look_alike_key_only_when_the_database_asks_for_them()
    {
        Assert.Null(ChatReducers.UniqueNameKey("Alice", ModuleSettings.Default));
        var unique = ModuleSettings.Default with { UniqueNames = true };
        Assert.Equal(ChatReducers.UniqueNameKey("alice", unique), ChatReducers.UniqueNameKey("ΑLICE", unique)); // Greek capital alpha
        Assert.NotEqual(ChatReducers.UniqueNameKey("alice", unique), ChatReducers.UniqueNameKey("alicia", unique));
    }
}
