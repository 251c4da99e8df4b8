namespace Chat;

/// <summary>How a reducer call ended. Every status but <see cref="Committed"/> means nothing changed.</summary>
public enum ReducerStatus
{
    Committed = 0,
    /// <summary>The arguments break a rule (empty text, too long, bad characters...).</summary>
    InvalidArgument,
    /// <summary>The call is valid but the state does not allow it (set_name for an unknown user, name taken...).</summary>
    FailedPrecondition,
    /// <summary>The database does not exist.</summary>
    NotFound,
    /// <summary>The caller may not do this (not the database's owner...).</summary>
    PermissionDenied,
    /// <summary>A rate limit was hit.</summary>
    ResourceExhausted,
    /// <summary>Storage could not be reached or the commit failed; the call may be retried.</summary>
    Unavailable,
}

/// <summary>
/// The outcome of a reducer call. Failures are values rather than exceptions because a
/// rejected reducer is an ordinary, expected event that the gateway maps to a status code.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ReducerResult(
    [property: Id(0)] ReducerStatus Status,
    [property: Id(1)] string? Error = null,
    [property: Id(2)] DateTime? Timestamp = null,
    [property: Id(3)] MessageRow? Message = null,
    [property: Id(4)] bool Replayed = false)
{
    public bool IsCommitted => Status == ReducerStatus.Committed;

    /// <summary>This committed result, answered again to a call that repeated its idempotency key.</summary>
    public ReducerResult AsReplay() => IsCommitted ? this with { Replayed = true } : this;

    public static ReducerResult Committed(DateTime timestamp, MessageRow? message = null) =>
        new(ReducerStatus.Committed, null, timestamp, message);

    public static ReducerResult Fail(ReducerStatus status, string error) => new(status, error);

    public static ReducerResult DatabaseNotFound(string database) =>
        Fail(ReducerStatus.NotFound, $"Database '{database}' does not exist.");

    public override string ToString() => IsCommitted ? "committed" : $"{Status}: {Error}";
}

/// <summary>
/// Who calls a reducer: the caller's identity and, when it calls over a live connection, that connection and
/// the client's request id, which the change feed carries back so the caller can match updates to its calls; and the
/// client's idempotency key for this call, if it gave one (see <see cref="IdempotencyKey"/>).
/// </summary>
[GenerateSerializer, Immutable]
public readonly record struct ReducerCaller(
    [property: Id(0)] Identity Identity,
    [property: Id(1)] ConnectionId? ConnectionId = null,
    [property: Id(2)] uint? RequestId = null,
    [property: Id(3)] string? IdempotencyKey = null);
