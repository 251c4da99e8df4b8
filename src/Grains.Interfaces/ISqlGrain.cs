using Orleans.Concurrency;

namespace Chat;

/// <summary>A SQL query's answer, or why it was refused (a bad query is InvalidArgument, an unknown database NotFound).</summary>
[GenerateSerializer, Immutable]
public sealed record SqlAnswer(
    [property: Id(0)] SqlResult? Result,
    [property: Id(1)] ReducerStatus Status,
    [property: Id(2)] string? Error);

/// <summary>Runs ad hoc read-only SQL against one database's tables; stateless, so every silo answers.</summary>
public interface ISqlGrain : IGrainWithIntegerKey
{
    Task<SqlAnswer> Query(string database, string query, Identity caller);
}
