using Chat.Storage;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>Turns what storage throws into the reducer result a caller can act on.</summary>
internal static class StorageFailure
{
    /// <summary>How a failure after the commit was sent begins: the caller should look before sending again.</summary>
    public const string CommitOutcomeUnknown =
        "Storage failed while committing: the message may or may not have been stored; retry with the same idempotency key " +
        "(safe: it is stored at most once), or without one check (SQL or a subscription) before sending it again";

    public const string KeyTaken =
        "Another call with the same idempotency key committed first; nothing was changed by this one. Retry with the same key to get that call's result";

    public static ReducerResult ToResult(Exception exception, string database, ILogger logger, string action)
    {
        if (exception is DatabaseGoneException)
            return ReducerResult.DatabaseNotFound(database);
        if (exception is IdempotencyKeyTakenException)
        {
            logger.IdempotencyKeyRaced(database, action);
            return ReducerResult.Fail(ReducerStatus.Unavailable, KeyTaken);
        }
        if (exception is CommitOutcomeUnknownException)
        {
            logger.CommitOutcomeUnknown(exception, action, database);
            return ReducerResult.Fail(ReducerStatus.Unavailable,
                $"{CommitOutcomeUnknown} ({exception.GetBaseException().Message})");
        }
        logger.StorageFailed(exception, action, database);
        return ReducerResult.Fail(ReducerStatus.Unavailable,
            $"Storage is unavailable, nothing was changed; try again shortly ({exception.GetBaseException().Message})");
    }
}
