using System.Text.Json;
using Chat.Grains;

namespace Chat;

/// <summary>Who may call a reducer: any client, or only the server when a client connects or disconnects.</summary>
public enum ReducerCalledBy
{
    AnyClient,
    ServerOnConnect,
    ServerOnDisconnect,
}

/// <summary>One parameter of a reducer, typed as SpacetimeDB's module definitions spell it.</summary>
public sealed record ReducerParameter(string Name, string Type);

/// <summary>One reducer of the module: its name, its parameters and who may call it.</summary>
public sealed record ReducerDefinition(string Name, IReadOnlyList<ReducerParameter> Parameters, ReducerCalledBy CalledBy)
{
    public bool ClientCallable => CalledBy == ReducerCalledBy.AnyClient;

    /// <summary>Who calls it, in words (Describe, `chat describe`).</summary>
    public string CalledByText => CalledBy switch
    {
        ReducerCalledBy.AnyClient => "any client",
        ReducerCalledBy.ServerOnConnect => "the server, when a client connects",
        _ => "the server, when a client disconnects",
    };

    /// <summary>Like <c>send_message(text: string)</c>.</summary>
    public string Signature => $"{Name}({string.Join(", ", Parameters.Select(p => $"{p.Name}: {p.Type}"))})";

    private string Expected => $"{Name} takes {Parameters.Count} argument{(Parameters.Count == 1 ? "" : "s")} " +
                               $"({string.Join(", ", Parameters.Select(p => $"{p.Name}: {p.Type}"))}) as a JSON array, like [\"Hello, World!\"]";

    /// <summary>
    /// The arguments of a call as `spacetime call` takes them, a JSON array (empty text is an empty array), checked
    /// against the parameters: one string each.
    /// </summary>
    public Outcome<string[]> ParseArguments(string? argsJson)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(string.IsNullOrWhiteSpace(argsJson) ? "[]" : argsJson);
        }
        catch (JsonException e)
        {
            return Invalid($"args_json is not valid JSON ({e.Message}); {Expected}.");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                return Invalid($"args_json must be a JSON array, not {Describe(document.RootElement.ValueKind)}; {Expected}.");
            var items = document.RootElement.EnumerateArray().ToArray();
            if (items.Length != Parameters.Count)
                return Invalid($"{Expected}; got {items.Length}.");
            var values = new string[items.Length];
            for (var i = 0; i < items.Length; i++)
            {
                if (items[i].ValueKind != JsonValueKind.String)
                    return Invalid($"Argument {i + 1} ({Parameters[i].Name}) of {Name} must be a string, not {Describe(items[i].ValueKind)}.");
                values[i] = items[i].GetString()!;
            }
            return values;
        }
    }

    private static Outcome<string[]> Invalid(string error) => Outcome.Fail<string[]>(ReducerStatus.InvalidArgument, error);

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// The chat module at a glance, as SpacetimeDB's lib.rs: its reducers (the table below) and who may do what. The
/// reducers' bodies and the text rules are in <see cref="Grains.ChatReducers"/>; the look-alike key behind unique
/// names in <see cref="Grains.NameKeys"/>. The gateway's argument checks, Describe and dispatch all read this table.
/// </summary>
public static class ChatModule
{
    public const string SetName = "set_name";
    public const string SendMessage = "send_message";
    public const string IdentityConnected = "identity_connected";
    public const string IdentityDisconnected = "identity_disconnected";

    private const string String = "string";

    /// <summary>Every reducer, the lifecycle ones too, in the order Describe lists them.</summary>
    public static IReadOnlyList<ReducerDefinition> Reducers { get; } =
    [
        new(SetName, [new("name", String)], ReducerCalledBy.AnyClient),
        new(SendMessage, [new("text", String)], ReducerCalledBy.AnyClient),
        new(IdentityConnected, [], ReducerCalledBy.ServerOnConnect),
        new(IdentityDisconnected, [], ReducerCalledBy.ServerOnDisconnect),
    ];

    private static readonly Dictionary<string, ReducerDefinition> ByName = Reducers.ToDictionary(r => r.Name, StringComparer.Ordinal);

    /// <summary>
    /// The reducer a client asked for by name: NotFound (listing what there is) for an unknown name, PermissionDenied
    /// for a lifecycle reducer, which only the server runs.
    /// </summary>
    public static Outcome<ReducerDefinition> ClientReducer(string name, string database)
    {
        if (!ByName.TryGetValue(name, out var reducer))
            return Outcome.Fail<ReducerDefinition>(ReducerStatus.NotFound,
                $"No reducer '{LogText.ReducerName(name)}' in database '{database}'. " +
                $"Reducers: {string.Join(", ", Reducers.Where(r => r.ClientCallable).Select(r => r.Signature))}.");
        if (!reducer.ClientCallable)
            return Outcome.Fail<ReducerDefinition>(ReducerStatus.PermissionDenied,
                $"{name} is a lifecycle reducer: the server runs it when a client connects or disconnects; clients cannot call it.");
        return reducer;
    }

    /// <summary>
    /// A user's reducers run in that user's grain: a call for one identity that reached another's is refused, so no
    /// caller can act as someone else. Null when the call may go on.
    /// </summary>
    public static string? CallerMismatch(string reducer, Identity user, Identity caller) =>
        caller == user ? null : $"{reducer} was routed to the user {user} but called by {caller}.";

    /// <summary>Only a database's owner may publish to it again, change its settings or delete it. Null when allowed.</summary>
    public static string? MayNotChange(string database, Identity owner, Identity caller) =>
        caller == owner ? null : $"Database '{database}' is owned by identity {owner}; only its owner can change or delete it.";

    /// <summary>A first publish that lost the race for the name to another identity. Null when allowed.</summary>
    public static string? MayNotPublish(string database, Identity owner, Identity caller) =>
        caller == owner ? null : $"Database '{database}' is owned by identity {owner}; only its owner can publish to it.";

    /// <summary>
    /// The module log is the owner's, every line of it: the lines name callers' identities and quote what they sent.
    /// Null when allowed.
    /// </summary>
    public static string? MayNotReadLogs(string database, Identity owner, Identity caller) =>
        caller == owner ? null : $"Only the owner of database '{database}' can read its logs.";
}
