using Chat.Frontend.Delivery;
using Chat.Grains;
using Grpc.Core;

namespace Chat.Frontend;

/// <summary>
/// The module's reducers (<see cref="ChatModule.Reducers"/>) as a client may call them by name, with JSON arguments as
/// `spacetime call` takes them; the table decides what exists, its arguments and who may call it, this only routes.
/// </summary>
public static class ReducerCatalog
{
    private delegate Task<ReducerResult> Invoker(IGrainFactory grains, MessageSender messages, string database, ReducerCaller caller, string[] args);

    /// <summary>Where each client-callable reducer runs.</summary>
    private static readonly Dictionary<string, Invoker> Invokers = new(StringComparer.Ordinal)
    {
        [ChatModule.SetName] = (grains, _, db, caller, args) => grains.GetUserGrain(db, caller.Identity).SetName(caller, args[0]),
        [ChatModule.SendMessage] = (_, messages, db, caller, args) => messages.Send(db, caller, args[0]),
    };

    static ReducerCatalog()
    {
        // A reducer added to the table but not routed here would be listed and then fail every call: refuse to start.
        if (ChatModule.Reducers.FirstOrDefault(r => r.ClientCallable && !Invokers.ContainsKey(r.Name)) is { } missing)
            throw new InvalidOperationException($"The gateway does not route the reducer {missing.Name}.");
    }

    /// <summary>Every reducer of the module, the lifecycle ones too, for Describe: the same list calls are checked against.</summary>
    public static IReadOnlyList<Api.V1.ReducerDescription> Descriptions { get; } =
    [
        .. ChatModule.Reducers.Select(r =>
        {
            var description = new Api.V1.ReducerDescription { Name = r.Name, ClientCallable = r.ClientCallable, CalledBy = r.CalledByText };
            description.Parameters.AddRange(r.Parameters.Select(p => new Api.V1.ReducerParameter { Name = p.Name, Type = p.Type }));
            return description;
        }),
    ];

    /// <summary>Checks the call and runs it; a bad reducer name or bad arguments throw an <see cref="RpcException"/> before anything runs.</summary>
    public static Task<ReducerResult> Call(IGrainFactory grains, MessageSender messages, string database, ReducerCaller caller, string reducer, string argsJson)
    {
        var target = OrThrow(ChatModule.ClientReducer(reducer, database));
        return Invokers[target.Name](grains, messages, database, caller, OrThrow(target.ParseArguments(argsJson)));
    }

    /// <summary>A call whose arguments came typed (the unary SetName and SendMessage RPCs): routed as a named call is.</summary>
    public static Task<ReducerResult> Invoke(IGrainFactory grains, MessageSender messages, string database, ReducerCaller caller, string reducer, params string[] args) =>
        Invokers[reducer](grains, messages, database, caller, args);

    private static T OrThrow<T>(Outcome<T> outcome) =>
        outcome.IsOk ? outcome.Value! : throw new RpcException(new Status(outcome.Status.ToStatusCode(), outcome.Error!));
}
