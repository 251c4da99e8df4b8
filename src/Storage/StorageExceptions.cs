namespace Chat.Storage;

/// <summary>The connection failed after a commit was sent: it may or may not have taken effect.</summary>
public sealed class CommitOutcomeUnknownException(Exception inner) : Exception(inner.Message, inner);

/// <summary>An idempotency key to record with a call's effect: what the call was (its fingerprint) and when it ran.</summary>
public sealed record KeyedCall(string Key, byte[] Fingerprint, DateTime At);

/// <summary>
/// Another call recorded the same idempotency key first (two calls with one key racing, or two activations during a
/// failover). Nothing was written; a retry finds the first call's record.
/// </summary>
public sealed class IdempotencyKeyTakenException() : Exception("Another call with the same idempotency key committed first.");

/// <summary>The database was deleted while a write for it was under way.</summary>
public sealed class DatabaseGoneException() : Exception("The database was deleted.");

/// <summary>
/// A chained group did not commit because the group before it did not (see migration 0010): committing it would have left
/// a gap in the offsets. Nothing of it was stored.
/// </summary>
public sealed class PreviousGroupNotCommittedException(Exception inner) : Exception(inner.Message, inner);
