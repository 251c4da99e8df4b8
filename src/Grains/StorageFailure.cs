using Chat.Storage;
using Microsoft.Extensions.Logging;

namespace Chat.Grains;

/// <summary>Turns what storage throws into the reducer result a caller can act on.</summary>
internal static class StorageFailure
{
    public static ReducerResult ToResult(Exception exception, string database, ILogger logger, string action)
    {
        if (exception is DatabaseGoneException)
            return ReducerResult.DatabaseNotFound(database);
        logger.LogError(exception, "Storage failed while {Action} in database {Database}; nothing was committed", action, database);
        return ReducerResult.Fail(ReducerStatus.Unavailable,
            $"Storage is unavailable, nothing was changed; try again shortly ({exception.GetBaseException().Message})");
    }
}
