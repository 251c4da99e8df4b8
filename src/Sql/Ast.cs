using System.Globalization;
using System.Text;

namespace Chat.Sql;

/// <summary>Where something is in the query text: 1-based line and column (columns count Unicode characters).</summary>
public readonly record struct SqlPosition(int Line, int Column)
{
    public override string ToString() => $"line {Line}, column {Column}";
}

// ---- the syntax tree: what the parser read, names not yet resolved ---------------------------
// ToString prints canonical SQL with every operator parenthesised, which is what parser tests compare.

public enum SqlComparisonOperator { Equal, NotEqual, Less, Greater, LessOrEqual, GreaterOrEqual }

public abstract record SqlExpr(SqlPosition Position);

/// <summary><c>name</c> or <c>qualifier.name</c>, as written (matching is case-insensitive).</summary>
public sealed record SqlColumnRef(string? Qualifier, string Name, SqlPosition Position) : SqlExpr(Position)
{
    public override string ToString() => Qualifier is null ? Name : $"{Qualifier}.{Name}";
}

public enum SqlLiteralKind { Number, Text, Bool, Identity }

/// <summary>A constant. <see cref="Value"/> is a <see cref="ulong"/>, <see cref="string"/>, <see cref="bool"/> or <see cref="Chat.Identity"/>.</summary>
public sealed record SqlLiteral(SqlLiteralKind Kind, object Value, SqlPosition Position) : SqlExpr(Position)
{
    public override string ToString() => Kind switch
    {
        SqlLiteralKind.Text => "'" + ((string)Value).Replace("'", "''") + "'",
        SqlLiteralKind.Bool => (bool)Value ? "true" : "false",
        SqlLiteralKind.Identity => "0x" + Value,
        _ => ((ulong)Value).ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary><c>:sender</c>, the identity of whoever runs the query.</summary>
public sealed record SqlSenderParameter(SqlPosition Position) : SqlExpr(Position)
{
    public override string ToString() => ":sender";
}

public sealed record SqlComparison(SqlComparisonOperator Operator, SqlExpr Left, SqlExpr Right, SqlPosition Position) : SqlExpr(Position)
{
    public override string ToString() => $"({Left} {Symbol(Operator)} {Right})";

    public static string Symbol(SqlComparisonOperator op) => op switch
    {
        SqlComparisonOperator.Equal => "=",
        SqlComparisonOperator.NotEqual => "<>",
        SqlComparisonOperator.Less => "<",
        SqlComparisonOperator.Greater => ">",
        SqlComparisonOperator.LessOrEqual => "<=",
        _ => ">=",
    };
}

/// <summary>AND and OR keep all their operands in one node, so a long chain does not make a deep tree.</summary>
public sealed record SqlAnd(IReadOnlyList<SqlExpr> Operands, SqlPosition Position) : SqlExpr(Position)
{
    public override string ToString() => "(" + string.Join(" AND ", Operands) + ")";
}

public sealed record SqlOr(IReadOnlyList<SqlExpr> Operands, SqlPosition Position) : SqlExpr(Position)
{
    public override string ToString() => "(" + string.Join(" OR ", Operands) + ")";
}

public sealed record SqlNot(SqlExpr Operand, SqlPosition Position) : SqlExpr(Position)
{
    public override string ToString() => $"(NOT {Operand})";
}

public sealed record SqlIsNull(SqlExpr Operand, bool Negated, SqlPosition Position) : SqlExpr(Position)
{
    public override string ToString() => $"({Operand} IS {(Negated ? "NOT " : "")}NULL)";
}

public abstract record SqlSelectItem(SqlPosition Position);

/// <summary><c>*</c>: every column of every table in FROM.</summary>
public sealed record SqlStar(SqlPosition Position) : SqlSelectItem(Position)
{
    public override string ToString() => "*";
}

/// <summary><c>t.*</c>: every column of one table.</summary>
public sealed record SqlTableStar(string Qualifier, SqlPosition Position) : SqlSelectItem(Position)
{
    public override string ToString() => Qualifier + ".*";
}

public sealed record SqlColumnItem(SqlColumnRef Column, string? Alias, SqlPosition Position) : SqlSelectItem(Position)
{
    public override string ToString() => Alias is null ? Column.ToString() : $"{Column} AS {Alias}";
}

public sealed record SqlCount(string? Alias, SqlPosition Position) : SqlSelectItem(Position)
{
    public override string ToString() => Alias is null ? "COUNT(*)" : $"COUNT(*) AS {Alias}";
}

public sealed record SqlTableRef(string Name, string? Alias, SqlPosition Position)
{
    public override string ToString() => Alias is null ? Name : $"{Name} AS {Alias}";
}

/// <param name="On">Null for a join without ON (<paramref name="Cross"/> or not): every pair of rows, which WHERE may then narrow.</param>
public sealed record SqlJoin(SqlTableRef Table, SqlExpr? On, SqlPosition Position, bool Cross = false)
{
    public override string ToString() => On is null ? $"{(Cross ? "CROSS " : "")}JOIN {Table}" : $"JOIN {Table} ON {On}";
}

public sealed record SqlOrderItem(SqlExpr Expr, bool Descending)
{
    public override string ToString() => Expr + (Descending ? " DESC" : " ASC");
}

public sealed record SqlSelect(
    IReadOnlyList<SqlSelectItem> Items,
    SqlTableRef From,
    IReadOnlyList<SqlJoin> Joins,
    SqlExpr? Where,
    IReadOnlyList<SqlOrderItem> OrderBy,
    ulong? Limit,
    ulong? Offset)
{
    public override string ToString()
    {
        var sql = new StringBuilder("SELECT ").AppendJoin(", ", Items).Append(" FROM ").Append(From);
        foreach (var join in Joins) sql.Append(' ').Append(join);
        if (Where is not null) sql.Append(" WHERE ").Append(Where);
        if (OrderBy.Count > 0) sql.Append(" ORDER BY ").AppendJoin(", ", OrderBy);
        if (Limit is not null) sql.Append(" LIMIT ").Append(Limit.Value.ToString(CultureInfo.InvariantCulture));
        if (Offset is not null) sql.Append(" OFFSET ").Append(Offset.Value.ToString(CultureInfo.InvariantCulture));
        return sql.ToString();
    }
}
