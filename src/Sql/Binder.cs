using System.Globalization;
using System.Text.RegularExpressions;

namespace Chat.Sql;

// ---- the bound tree: names resolved against the schema, types checked, literals typed -----------
// Both the PostgreSQL translator and the in-memory engine work from this, which is what keeps them agreeing.

internal abstract record BoundExpr(SqlType Type);

/// <param name="Source">Index into <see cref="BoundQuery.Sources"/>.</param>
internal sealed record BoundColumn(int Source, ColumnInfo Column) : BoundExpr(Column.Type);

/// <param name="Value">An <see cref="Identity"/>, <see cref="string"/>, <see cref="bool"/>, UTC <see cref="DateTime"/> or <see cref="ulong"/>.</param>
internal sealed record BoundConstant(SqlType Type, object Value) : BoundExpr(Type);

internal sealed record BoundSender() : BoundExpr(SqlType.Identity);

internal sealed record BoundComparison(SqlComparisonOperator Operator, BoundExpr Left, BoundExpr Right) : BoundExpr(SqlType.Bool);

internal sealed record BoundAnd(IReadOnlyList<BoundExpr> Operands) : BoundExpr(SqlType.Bool);

internal sealed record BoundOr(IReadOnlyList<BoundExpr> Operands) : BoundExpr(SqlType.Bool);

internal sealed record BoundNot(BoundExpr Operand) : BoundExpr(SqlType.Bool);

internal sealed record BoundIsNull(BoundExpr Operand, bool Negated) : BoundExpr(SqlType.Bool);

/// <param name="Name">The alias, or the table's name when it has none.</param>
internal sealed record BoundSource(TableInfo Table, string Name)
{
    public override string ToString() => Name.Equals(Table.Name, StringComparison.OrdinalIgnoreCase) ? Table.Name : $"{Name} ({Table.Name})";
}

/// <param name="Column">Null for COUNT(*).</param>
internal sealed record BoundOutput(string Name, SqlType Type, BoundColumn? Column);

internal sealed record BoundOrder(BoundExpr Expr, bool Descending);

/// <param name="JoinConditions">One per source; null for the first, which is not joined to anything, and for a join without ON.</param>
/// <param name="OrderBy">The user's keys followed by every source's primary key, so the order is always total.</param>
internal sealed record BoundQuery(
    IReadOnlyList<BoundSource> Sources,
    IReadOnlyList<BoundExpr?> JoinConditions,
    BoundExpr? Where,
    IReadOnlyList<BoundOutput> Outputs,
    bool IsCount,
    IReadOnlyList<BoundOrder> OrderBy,
    long? Limit,
    long? Offset);

/// <summary>Resolves the names of a parsed query against <see cref="Schema"/> and checks its types.</summary>
internal static partial class Binder
{
    public static BoundQuery Bind(SqlSelect select)
    {
        var sources = new List<BoundSource>();
        AddSource(sources, select.From);
        var joins = new List<BoundExpr?> { null };
        foreach (var join in select.Joins)
        {
            AddSource(sources, join.Table);
            joins.Add(join.On is null ? null : BindJoinCondition(join.On, sources));
        }

        var where = select.Where is null ? null : Condition(select.Where, sources, "WHERE");

        var outputs = new List<BoundOutput>();
        foreach (var item in select.Items)
            AddOutputs(outputs, item, sources);
        var isCount = select.Items is [SqlCount];

        var orderBy = new List<BoundOrder>();
        if (isCount && select.OrderBy.Count > 0)
        {
            var at = select.OrderBy[0].Expr.Position;
            throw new SqlQueryException($"ORDER BY cannot be used with COUNT(*), which returns a single row (at {at})", at);
        }
        foreach (var item in select.OrderBy)
            orderBy.Add(new BoundOrder(BindOrderKey(item.Expr, outputs, sources), item.Descending));
        if (!isCount)
            for (var i = 0; i < sources.Count; i++)
                orderBy.Add(new BoundOrder(new BoundColumn(i, sources[i].Table.Key), false));

        return new BoundQuery(sources, joins, where, outputs, isCount, orderBy, (long?)select.Limit, (long?)select.Offset);
    }

    private static void AddSource(List<BoundSource> sources, SqlTableRef reference)
    {
        var table = Schema.Find(reference.Name)
            ?? throw new SqlQueryException($"Unknown table '{reference.Name}' at {reference.Position}; tables are {Schema.TableList}", reference.Position);
        var name = reference.Alias ?? table.Name;
        if (sources.Any(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
            throw new SqlQueryException(
                reference.Alias is null
                    ? $"Table {table.Name} appears twice (at {reference.Position}); give each an alias, as in FROM {table.Name} a JOIN {table.Name} b ON ..."
                    : $"The alias '{name}' is used twice (at {reference.Position}); give each table its own",
                reference.Position);
        sources.Add(new BoundSource(table, name));
    }

    /// <summary>SpacetimeDB joins on column equalities only; we keep that rule so any join it runs, we run.</summary>
    private static BoundExpr BindJoinCondition(SqlExpr on, List<BoundSource> sources)
    {
        var parts = on is SqlAnd and ? and.Operands : [on];
        foreach (var part in parts)
            if (part is not SqlComparison { Operator: SqlComparisonOperator.Equal, Left: SqlColumnRef, Right: SqlColumnRef })
                throw new SqlQueryException(
                    $"JOIN ... ON must compare two columns with =, several such comparisons joined by AND; found {part} at {part.Position}",
                    part.Position);
        return Condition(on, sources, "ON");
    }

    private static void AddOutputs(List<BoundOutput> outputs, SqlSelectItem item, List<BoundSource> sources)
    {
        switch (item)
        {
            case SqlStar:
                for (var i = 0; i < sources.Count; i++)
                    AddAllColumns(outputs, i, sources[i]);
                break;
            case SqlTableStar star:
                var index = FindSource(star.Qualifier, sources, star.Position);
                AddAllColumns(outputs, index, sources[index]);
                break;
            case SqlColumnItem column:
                var bound = ResolveColumn(column.Column, sources);
                outputs.Add(new BoundOutput(column.Alias ?? bound.Column.Name, bound.Type, bound));
                break;
            case SqlCount count:
                outputs.Add(new BoundOutput(count.Alias ?? "count", SqlType.U64, null));
                break;
        }
    }

    private static void AddAllColumns(List<BoundOutput> outputs, int index, BoundSource source)
    {
        foreach (var column in source.Table.Columns)
            outputs.Add(new BoundOutput(column.Name, column.Type, new BoundColumn(index, column)));
    }

    /// <summary>
    /// As in PostgreSQL, a bare name in ORDER BY means an output column first (so aliases work) and a
    /// table column otherwise. Either way we order by the underlying column, so both engines agree.
    /// </summary>
    private static BoundExpr BindOrderKey(SqlExpr expr, List<BoundOutput> outputs, List<BoundSource> sources)
    {
        if (expr is SqlLiteral or SqlSenderParameter)
            throw new SqlQueryException($"ORDER BY needs a column, found {expr} at {expr.Position}", expr.Position);
        if (expr is SqlColumnRef { Qualifier: null } name)
        {
            var matches = outputs.Where(o => o.Column is not null && o.Name.Equals(name.Name, StringComparison.OrdinalIgnoreCase))
                .Select(o => o.Column!).Distinct().ToList();
            if (matches.Count > 1)
                throw new SqlQueryException(
                    $"ORDER BY {name.Name} is ambiguous at {name.Position}: several output columns have that name; qualify it, as in t.{name.Name}",
                    name.Position);
            if (matches.Count == 1) return matches[0];
        }
        return Bind(expr, sources);
    }

    // ---- expressions ----------------------------------------------------------------------------

    private static BoundExpr Condition(SqlExpr expr, List<BoundSource> sources, string context)
    {
        var bound = Bind(expr, sources);
        if (bound.Type != SqlType.Bool)
            throw new SqlQueryException(
                $"{context} needs a true/false condition, but {expr} is {bound.Type} (at {expr.Position})", expr.Position);
        return bound;
    }

    private static BoundExpr Bind(SqlExpr expr, List<BoundSource> sources) => expr switch
    {
        SqlColumnRef column => ResolveColumn(column, sources),
        SqlLiteral literal => literal.Kind switch
        {
            SqlLiteralKind.Number => new BoundConstant(SqlType.U64, literal.Value),
            SqlLiteralKind.Text => new BoundConstant(SqlType.String, literal.Value),
            SqlLiteralKind.Bool => new BoundConstant(SqlType.Bool, literal.Value),
            _ => new BoundConstant(SqlType.Identity, literal.Value),
        },
        SqlSenderParameter => new BoundSender(),
        SqlComparison comparison => BindComparison(comparison, sources),
        SqlAnd and => new BoundAnd(and.Operands.Select(o => Condition(o, sources, "AND")).ToList()),
        SqlOr or => new BoundOr(or.Operands.Select(o => Condition(o, sources, "OR")).ToList()),
        SqlNot not => new BoundNot(Condition(not.Operand, sources, "NOT")),
        SqlIsNull isNull => new BoundIsNull(Bind(isNull.Operand, sources), isNull.Negated),
        _ => throw new InvalidOperationException($"Unexpected syntax node {expr.GetType().Name}."),
    };

    private static BoundComparison BindComparison(SqlComparison comparison, List<BoundSource> sources)
    {
        var left = Bind(comparison.Left, sources);
        var right = Bind(comparison.Right, sources);
        // A string compared with a timestamp is a timestamp written as text, as SpacetimeDB reads it.
        if (left.Type == SqlType.Timestamp && comparison.Right is SqlLiteral { Kind: SqlLiteralKind.Text } rightText)
            right = TimestampLiteral(rightText);
        if (right.Type == SqlType.Timestamp && comparison.Left is SqlLiteral { Kind: SqlLiteralKind.Text } leftText)
            left = TimestampLiteral(leftText);
        // Likewise an identity written as a string, the way SpacetimeDB's own tools print and paste them.
        if (left.Type == SqlType.Identity && comparison.Right is SqlLiteral { Kind: SqlLiteralKind.Text } rightHex)
            right = IdentityLiteral(rightHex);
        if (right.Type == SqlType.Identity && comparison.Left is SqlLiteral { Kind: SqlLiteralKind.Text } leftHex)
            left = IdentityLiteral(leftHex);

        if (left.Type != right.Type)
        {
            var hint = (left.Type, right.Type) is (SqlType.Identity, SqlType.String) or (SqlType.String, SqlType.Identity)
                ? "; write identities as 0x followed by 64 hex digits, or X'…'"
                : "";
            throw new SqlQueryException(
                $"Cannot compare {left.Type} with {right.Type} at {comparison.Position}: " +
                $"{comparison.Left} {SqlComparison.Symbol(comparison.Operator)} {comparison.Right}{hint}",
                comparison.Position);
        }
        return new BoundComparison(comparison.Operator, left, right);
    }

    private static BoundColumn ResolveColumn(SqlColumnRef reference, List<BoundSource> sources)
    {
        if (reference.Qualifier is not null)
        {
            var index = FindSource(reference.Qualifier, sources, reference.Position);
            var table = sources[index].Table;
            var column = table.Find(reference.Name)
                ?? throw new SqlQueryException(
                    $"Unknown column '{reference.Name}' in table {table.Name} at {reference.Position}; columns are {table.ColumnList}",
                    reference.Position);
            return new BoundColumn(index, column);
        }

        var found = new List<BoundColumn>();
        for (var i = 0; i < sources.Count; i++)
            if (sources[i].Table.Find(reference.Name) is { } column)
                found.Add(new BoundColumn(i, column));
        if (found.Count == 1) return found[0];
        if (found.Count > 1)
            throw new SqlQueryException(
                $"Column '{reference.Name}' is ambiguous at {reference.Position}: it is in " +
                string.Join(" and ", found.Select(f => sources[f.Source].ToString())) +
                $"; qualify it, as in {sources[found[0].Source].Name}.{found[0].Column.Name}",
                reference.Position);
        if (sources.Count == 1)
            throw new SqlQueryException(
                $"Unknown column '{reference.Name}' in table {sources[0].Table.Name} at {reference.Position}; columns are {sources[0].Table.ColumnList}",
                reference.Position);
        throw new SqlQueryException(
            $"Unknown column '{reference.Name}' at {reference.Position}; " +
            string.Join("; ", sources.Select(s => $"{s} has {s.Table.ColumnList}")),
            reference.Position);
    }

    private static int FindSource(string qualifier, List<BoundSource> sources, SqlPosition at)
    {
        for (var i = 0; i < sources.Count; i++)
            if (sources[i].Name.Equals(qualifier, StringComparison.OrdinalIgnoreCase))
                return i;
        throw new SqlQueryException(
            $"Unknown table or alias '{qualifier}' at {at}; in scope here: {string.Join(", ", sources.Select(s => s.Name))}", at);
    }

    /// <summary>64 hex digits, optionally after <c>0x</c>, as SpacetimeDB reads a string compared with an identity.</summary>
    private static BoundConstant IdentityLiteral(SqlLiteral literal)
    {
        var text = (string)literal.Value;
        var digits = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        if (digits.Length == Identity.HexLength && digits.All(char.IsAsciiHexDigit))
            return new BoundConstant(SqlType.Identity, Identity.Parse(digits));
        var shown = text.Length <= 40 ? literal.ToString() : "'" + text[..37] + "...'";
        throw new SqlQueryException(
            $"{shown} at {literal.Position} is not an identity: expected {Identity.HexLength} hex digits, optionally after 0x " +
            $"(this has {digits.Length} characters{(digits.All(char.IsAsciiHexDigit) ? "" : ", not all of them hex digits")})",
            literal.Position);
    }

    // ---- timestamps -------------------------------------------------------------------------------

    [GeneratedRegex(@"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$",
        RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339();

    private static BoundConstant TimestampLiteral(SqlLiteral literal)
    {
        var text = (string)literal.Value;
        return TryParseTimestamp(text, out var value)
            ? new BoundConstant(SqlType.Timestamp, value)
            : throw new SqlQueryException(
                $"{literal} at {literal.Position} is not a timestamp: expected RFC 3339, like '2026-01-13T12:00:00Z' or '2026-01-13T13:00:00.5+01:00'",
                literal.Position);
    }

    /// <summary>
    /// RFC 3339 to a UTC <see cref="DateTime"/>, cut to whole microseconds because that is what the
    /// tables hold (and what PostgreSQL would do with the parameter, so both engines see one value).
    /// </summary>
    internal static bool TryParseTimestamp(string text, out DateTime value)
    {
        value = default;
        var match = Rfc3339().Match(text);
        if (!match.Success) return false;
        int Part(int group) => int.Parse(match.Groups[group].ValueSpan, CultureInfo.InvariantCulture);
        try
        {
            var fraction = match.Groups[7].Success ? match.Groups[7].Value.PadRight(6, '0')[..6] : "0";
            var local = new DateTime(Part(1), Part(2), Part(3), Part(4), Part(5), Part(6), DateTimeKind.Unspecified)
                .AddTicks(long.Parse(fraction, CultureInfo.InvariantCulture) * 10);
            var offset = TimeSpan.Zero;
            if (match.Groups[9].Success)
            {
                if (Part(10) > 23 || Part(11) > 59) return false;
                offset = new TimeSpan(Part(10), Part(11), 0) * (match.Groups[9].Value == "-" ? -1 : 1);
            }
            value = DateTime.SpecifyKind(local - offset, DateTimeKind.Utc);
            return true;
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;
        }
    }
}
