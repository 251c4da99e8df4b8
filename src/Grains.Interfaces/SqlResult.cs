namespace Chat;

/// <summary>The column types of the SQL tables SpacetimeDB's chat module exposes, named as SpacetimeDB names them.</summary>
public enum SqlType
{
    Identity = 0,
    String = 1,
    Bool = 2,
    Timestamp = 3,
    U64 = 4,
}

/// <summary>One column of a SQL result: its alias or column name (<c>count</c> for <c>COUNT(*)</c>) and type.</summary>
[GenerateSerializer, Immutable]
public sealed record SqlColumn(
    [property: Id(0)] string Name,
    [property: Id(1)] SqlType Type);

/// <summary>
/// The answer to an ad hoc SQL query. Each row holds one value per column: an <see cref="Identity"/>,
/// <see cref="string"/>, <see cref="bool"/>, <see cref="DateTime"/> (UTC, microsecond precision),
/// <see cref="ulong"/>, or null. <see cref="Truncated"/> says that more rows matched than were returned: past the row
/// cap, or, with <see cref="CutBySize"/>, past the result's byte limit.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SqlResult(
    [property: Id(0)] IReadOnlyList<SqlColumn> Columns,
    [property: Id(1)] IReadOnlyList<object?[]> Rows,
    [property: Id(2)] bool Truncated,
    [property: Id(3)] bool CutBySize = false);
