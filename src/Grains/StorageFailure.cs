using Chat.Storage;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>Turns what storage throws into the reducer result a caller can act on.</summary>
internal static class StorageFailure
{
    /// <summary>How a failure after the commit was sent begins: the caller should look before sending again.</summary>
    public const string CommitOutcomeUnknown =
        "Storage failed while committing: the message may or may not have been stored; check (SQL or a subscription) before sending it again";

    public static ReducerResult ToResult(Exception exception, string database, ILogger logger, string action)
    {
        if (exception is DatabaseGoneException)
            return ReducerResult.DatabaseNotFound(database);
        if (exception is CommitOutcomeUnknownException)
        {
            logger.LogError(exception, "Storage failed while {Action} in database {Database}, after the commit was sent; it may have taken effect", action, database);
            return ReducerResult.Fail(ReducerStatus.Unavailable,
                $"{CommitOutcomeUnknown} ({exception.GetBaseException().Message})");
        }
        logger.LogError(exception, "Storage failed while {Action} in database {Database}; nothing was committed", action, database);
        return ReducerResult.Fail(ReducerStatus.Unavailable,
            $"Storage is unavailable, nothing was changed; try again shortly ({exception.GetBaseException().Message})");
    }
}
