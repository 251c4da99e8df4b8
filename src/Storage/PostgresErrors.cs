using Npgsql;

namespace Chat.Storage;

/// <summary>The PostgreSQL errors the stores turn into the exceptions of StorageExceptions.cs, named once for all of them.</summary>
internal static class PostgresErrors
{
    public const string UniqueViolation = "23505";
    public const string ForeignKeyViolation = "23503";

    /// <summary>The SQLSTATE <c>chat.follow_group</c> raises when the group before did not commit (migration 0010).</summary>
    public const string PreviousGroupMissing = "CG001";

    /// <summary>The primary key of <c>chat.reducer_call</c>: a second call recording the same idempotency key.</summary>
    public const string ReducerCallKey = "reducer_call_pkey";

    /// <summary>Two users of one database with the same uniqueness key of their names.</summary>
    public const string UserUniqueName = "user_unique_name";

    public static bool IsReducerCallKeyTaken(PostgresException e) => e.SqlState == UniqueViolation && e.ConstraintName == ReducerCallKey;

    public static bool IsNameTaken(PostgresException e) => e.SqlState == UniqueViolation && e.ConstraintName == UserUniqueName;

    /// <summary>
    /// The connection broke (or timed out) rather than the server refusing the statement: after a COMMIT went out, whether
    /// it took effect is unknown.
    /// </summary>
    public static bool IsLostConnection(Exception e) =>
        e is not DatabaseGoneException and not IdempotencyKeyTakenException and not PostgresException
        && e is NpgsqlException or IOException or TimeoutException or ObjectDisposedException;
}
