using Chat.Frontend.Delivery;
using System.Text.Json;
using Grpc.Core;

namespace Chat.Frontend;

/// <summary>
/// The chat module's reducers as a client may call them by name, with JSON arguments as
/// `spacetime call` takes them. The lifecycle reducers exist but belong to the server.
/// </summary>
public static class ReducerCatalog
{
    private sealed record Reducer(string Name, string[] Parameters, Func<IGrainFactory, MessageSender, string, ReducerCaller, string[], Task<ReducerResult>> Invoke)
    {
        public string Expected { get; } = $"{Name} takes {Parameters.Length} argument{(Parameters.Length == 1 ? "" : "s")} " +
                                          $"({string.Join(", ", Parameters.Select(p => p + ": string"))}) as a JSON array, like [\"Hello, World!\"]";
    }

    private static readonly Dictionary<string, Reducer> ClientReducers = new[]
    {
        new Reducer("set_name", ["name"], (grains, _, db, caller, args) => grains.GetUserGrain(db, caller.Identity).SetName(caller, args[0])),
        new Reducer("send_message", ["text"], (_, messages, db, caller, args) => messages.Send(db, caller, args[0])),
    }.ToDictionary(r => r.Name, StringComparer.Ordinal);

    /// <summary>The lifecycle reducers, and when the server runs them.</summary>
    private static readonly Dictionary<string, string> LifecycleReducers = new(StringComparer.Ordinal)
    {
        ["identity_connected"] = "the server, when a client connects",
        ["identity_disconnected"] = "the server, when a client disconnects",
    };

    /// <summary>Every reducer of the module, the lifecycle ones too, for Describe: the same list calls are checked against.</summary>
    public static IReadOnlyList<Api.V1.ReducerDescription> Descriptions { get; } =
    [
        .. ClientReducers.Values.Select(r =>
        {
            var description = new Api.V1.ReducerDescription { Name = r.Name, ClientCallable = true, CalledBy = "any client" };
            description.Parameters.AddRange(r.Parameters.Select(p => new Api.V1.ReducerParameter { Name = p, Type = "string" }));
            return description;
        }),
        .. LifecycleReducers.Select(r => new Api.V1.ReducerDescription { Name = r.Key, ClientCallable = false, CalledBy = r.Value }),
    ];

    private static string Signatures => string.Join(", ", ClientReducers.Values.Select(r => $"{r.Name}({string.Join(", ", r.Parameters.Select(p => p + ": string"))})"));

    /// <summary>Checks the call and runs it; a bad reducer name or bad arguments throw an <see cref="RpcException"/> before anything runs.</summary>
    public static Task<ReducerResult> Call(IGrainFactory grains, MessageSender messages, string database, ReducerCaller caller, string reducer, string argsJson)
    {
        if (LifecycleReducers.ContainsKey(reducer))
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{reducer} is a lifecycle reducer: the server runs it when a client connects or disconnects; clients cannot call it."));
        if (!ClientReducers.TryGetValue(reducer, out var target))
            throw new RpcException(new Status(StatusCode.NotFound,
                $"No reducer '{LogText.ReducerName(reducer)}' in database '{database}'. Reducers: {Signatures}."));
        return target.Invoke(grains, messages, database, caller, ParseArguments(target, argsJson));
    }

    private static string[] ParseArguments(Reducer reducer, string argsJson)
    {
        var expected = reducer.Expected;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(string.IsNullOrWhiteSpace(argsJson) ? "[]" : argsJson);
        }
        catch (JsonException e)
        {
            throw Invalid($"args_json is not valid JSON ({e.Message}); {expected}.");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                throw Invalid($"args_json must be a JSON array, not {Describe(document.RootElement.ValueKind)}; {expected}.");
            var items = document.RootElement.EnumerateArray().ToArray();
            if (items.Length != reducer.Parameters.Length)
                throw Invalid($"{expected}; got {items.Length}.");
            var values = new string[items.Length];
            for (var i = 0; i < items.Length; i++)
            {
                if (items[i].ValueKind != JsonValueKind.String)
                    throw Invalid($"Argument {i + 1} ({reducer.Parameters[i]}) of {reducer.Name} must be a string, not {Describe(items[i].ValueKind)}.");
                values[i] = items[i].GetString()!;
            }
            return values;
        }
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString().ToLowerInvariant(),
    };

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
