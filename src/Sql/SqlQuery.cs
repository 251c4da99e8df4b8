using System.Text;

namespace Chat.Sql;

/// <summary>
/// A parsed, name-resolved and type-checked read-only query over the chat module's tables
/// (<c>User</c> and <c>Message</c>), in SpacetimeDB's SQL subset plus ORDER BY, LIMIT and OFFSET.
/// Run it with <see cref="PostgresSqlExecutor"/> or <see cref="InMemorySqlEngine"/>; both give the same answer.
/// </summary>
public sealed class SqlQuery
{
    /// <summary>
    /// Longest accepted query text, in bytes of UTF-8: SpacetimeDB's limit, counted its way, so any query it takes fits.
    /// It also fits what carries it: a gRPC request (64 KiB by default) and a connection's subscription text
    /// (65,536 UTF-16 characters; a text never has more characters than UTF-8 bytes).
    /// </summary>
    public const int MaxTextBytes = 50_000;

    /// <summary>Deepest nesting of parentheses and NOT in one condition.</summary>
    public const int MaxDepth = 64;

    /// <summary>Longest string literal, in Unicode characters: the default maximum message length.</summary>
    public const int MaxStringLength = 4096;

    public const int MaxIdentifierLength = 128;

    /// <summary>Most result columns: each costs every row its bytes, so a short query must not ask for thousands.</summary>
    public const int MaxColumns = 64;

    private SqlQuery(string text, SqlSelect syntax, BoundQuery bound)
    {
        Text = text;
        Syntax = syntax;
        Bound = bound;
        Columns = bound.Outputs.Select(o => new SqlColumn(o.Name, o.Type)).ToArray();
        Tables = bound.Sources.Select(s => s.Table.Name).ToArray();
    }

    public string Text { get; }

    /// <summary>The query as parsed, before names were resolved.</summary>
    public SqlSelect Syntax { get; }

    internal BoundQuery Bound { get; }

    /// <summary>The result's columns, known before the query runs.</summary>
    public IReadOnlyList<SqlColumn> Columns { get; }

    /// <summary>The tables read, in FROM order (<c>User</c> or <c>Message</c>; twice for a self-join).</summary>
    public IReadOnlyList<string> Tables { get; }

    /// <summary>Parses and binds <paramref name="text"/>.</summary>
    /// <exception cref="SqlQueryException">The text is not a valid query; the message says what was expected and where.</exception>
    public static SqlQuery Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > MaxTextBytes)
            throw new SqlQueryException($"The query is {bytes} bytes long in UTF-8; the limit is {MaxTextBytes} bytes");
        var syntax = Parser.Parse(text);
        var query = new SqlQuery(text, syntax, Binder.Bind(syntax));
        if (query.Columns.Count > MaxColumns)
            throw new SqlQueryException($"The query selects {query.Columns.Count} columns; the limit is {MaxColumns}. Select fewer, or name the ones you need instead of * over a join.");
        return query;
    }

    /// <summary><see cref="Parse"/>, then <see cref="EnsureSubscriptionShape"/>.</summary>
    public static SqlQuery ParseSubscription(string text)
    {
        var query = Parse(text);
        query.EnsureSubscriptionShape();
        return query;
    }

    /// <summary>
    /// Whether this is a query a subscription can follow row by row: <c>SELECT * FROM t [WHERE …]</c>
    /// (or <c>SELECT t.*</c>) over one table, or <c>SELECT t.*</c> over a two-table join of a shape
    /// <see cref="SqlJoinPlan"/> follows; without COUNT, ORDER BY, LIMIT or OFFSET.
    /// </summary>
    public bool IsSubscriptionShape => SubscriptionShapeProblem() is null;

    /// <exception cref="SqlQueryException">Not <see cref="IsSubscriptionShape"/>; the message says why.</exception>
    public void EnsureSubscriptionShape()
    {
        if (SubscriptionShapeProblem() is { } problem)
            throw new SqlQueryException($"A subscription must be SELECT * FROM one table [WHERE ...] or SELECT t.* FROM a JOIN b ON ... [WHERE ...]; {problem}");
    }

    /// <summary>How a subscription follows this join; null for a query on one table.</summary>
    /// <exception cref="SqlQueryException">A join no subscription follows.</exception>
    public SqlJoinPlan? JoinPlan => Bound.Sources.Count == 1 ? null : _joinPlan ??= SqlJoinPlan.For(this);
    private SqlJoinPlan? _joinPlan;

    private string? SubscriptionShapeProblem()
    {
        if (Syntax.Items is not [SqlStar or SqlTableStar]) return "this query selects " + string.Join(", ", Syntax.Items) + " instead of *";
        if (Syntax.OrderBy.Count > 0) return "this query has ORDER BY";
        if (Syntax.Limit is not null) return "this query has LIMIT";
        if (Syntax.Offset is not null) return "this query has OFFSET";
        try
        {
            _ = JoinPlan;
        }
        catch (SqlQueryException e)
        {
            return e.Message;
        }
        return null;
    }

    /// <summary>
    /// A <c>column = constant</c> condition every row this single-table query matches must meet, when its WHERE has one at
    /// the top (alone, or ANDed with others); <c>:sender</c> stands for <paramref name="caller"/>. A row whose column holds
    /// another value cannot match, which is what lets subscribers be indexed by it, as SpacetimeDB does. Null when there is none.
    /// </summary>
    public SqlEqualityKey? EqualityKey(Identity caller)
    {
        if (Bound.Sources.Count != 1 || Bound.Where is not { } where) return null;
        foreach (var condition in where is BoundAnd and ? and.Operands : [where])
        {
            if (condition is not BoundComparison { Operator: SqlComparisonOperator.Equal } equal) continue;
            var (column, value) = equal.Left is BoundColumn ? (equal.Left, equal.Right) : (equal.Right, equal.Left);
            if (column is not BoundColumn bound) continue;
            switch (value)
            {
                case BoundConstant constant:
                    return new SqlEqualityKey(bound.Column.Ordinal, constant.Value);
                case BoundSender:
                    return new SqlEqualityKey(bound.Column.Ordinal, caller);
            }
        }
        return null;
    }

    /// <summary>The value a <see cref="SqlEqualityKey"/> on <c>User</c> compares with; null for NULL.</summary>
    public static object? ColumnValue(UserRow row, int column) => InMemorySqlEngine.ToValues(row)[column];

    /// <summary>The value a <see cref="SqlEqualityKey"/> on <c>Message</c> compares with.</summary>
    public static object? ColumnValue(MessageRow row, int column) => InMemorySqlEngine.ToValues(row)[column];

    public override string ToString() => Text;
}

/// <summary>
/// A column (by position in its table) and the value it must equal. Values compare with <see cref="object.Equals(object)"/>,
/// which agrees with SQL's <c>=</c> for every column type here (strings by code point, identities by bytes).
/// </summary>
public readonly record struct SqlEqualityKey(int Column, object Value);

/// <summary>
/// A query that cannot be run: it does not parse, names something that does not exist, compares
/// incompatible types, or ran out of time. <see cref="Line"/> and <see cref="Column"/> point at the
/// problem in the query text (1-based), or are 0 when the problem is the query as a whole.
/// </summary>
public sealed class SqlQueryException : Exception
{
    public SqlQueryException(string message) : base(message) { }

    public SqlQueryException(string message, SqlPosition position) : base(message)
    {
        Line = position.Line;
        Column = position.Column;
    }

    public SqlQueryException(string message, Exception inner) : base(message, inner) { }

    public int Line { get; }
    public int Column { get; }
}

/// <summary>What one ad hoc query may cost.</summary>
public sealed record SqlLimits
{
    public static SqlLimits Default { get; } = new();

    /// <summary>Most rows returned; a result cut here has <see cref="SqlResult.Truncated"/> set.</summary>
    public int RowCap { get; init; } = 10_000;

    /// <summary>
    /// Most bytes of values returned (strings as UTF-8, identities as their 66-character text, as the gateway sends them);
    /// a result cut here has <see cref="SqlResult.Truncated"/> and <see cref="SqlResult.CutBySize"/> set.
    /// </summary>
    public int MaxResultBytes { get; init; } = 2 * 1024 * 1024;

    /// <summary>
    /// Highest cost, in PostgreSQL's planner units, a query may be estimated at; above it, it is refused before it runs.
    /// 0 turns the check off. One-row lookups cost tens; scanning 100,000 messages a few thousand.
    /// </summary>
    public double MaxCost { get; init; } = 100_000;

    /// <summary>Longest PostgreSQL may work on the query before it is cancelled.</summary>
    public TimeSpan StatementTimeout { get; init; } = TimeSpan.FromSeconds(3);
}
