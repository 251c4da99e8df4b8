namespace Chat;

/// <summary>
/// The messages of one database, keyed by its name; the only writer of them. Assigns offsets and
/// timestamps and commits concurrent sends together in one PostgreSQL transaction.
/// </summary>
public interface IMessageLogGrain : IGrainWithStringKey
{
    /// <summary>
    /// The send_message reducer, for several callers at once, as a gateway coalesces them: each is checked and committed as if sent alone,
    /// in the given order, and answered at the same index, each only after its row is durably committed. One grain call instead of many is what makes it worth it.
    /// </summary>
    Task<ReducerResult[]> SendMessages(IReadOnlyList<MessageToSend> messages);
}

/// <summary>One send_message call inside a <see cref="IMessageLogGrain.SendMessages"/> batch.</summary>
[GenerateSerializer, Immutable]
public sealed record MessageToSend([property: Id(0)] ReducerCaller Caller, [property: Id(1)] string Text);
