namespace Chat;

/// <summary>
/// The messages of one database, keyed by its name; the only writer of them. Assigns offsets and
/// timestamps and commits concurrent sends together in one PostgreSQL transaction.
/// </summary>
public interface IMessageLogGrain : IGrainWithStringKey
{
    /// <summary>The send_message reducer. Completes only after the row is durably committed.</summary>
    Task<ReducerResult> SendMessage(ReducerCaller caller, string text);

    /// <summary>Told by the database grain when the database was published, changed or deleted, so the next call sees it.</summary>
    Task DatabaseChanged(DatabaseDescriptor? database);

    /// <summary>Up to <paramref name="limit"/> messages with offsets after <paramref name="afterOffset"/>, in offset order.</summary>
    Task<IReadOnlyList<MessageRow>> Read(long afterOffset, int limit);
}
