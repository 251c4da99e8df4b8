using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace Chat.Sql;

/// <summary>One PostgreSQL statement and its parameters.</summary>
public sealed record PostgresStatement(string Sql, IReadOnlyList<NpgsqlParameter> Parameters);

/// <summary>
/// Translates a bound query into one parameterised PostgreSQL statement over <c>chat."user"</c> and
/// <c>chat.message</c>. Nothing the user typed reaches the SQL text: tables and columns come from
/// <see cref="Schema"/>, table instances get our own aliases (t0, t1, …), and every value is a parameter.
/// </summary>
public static class PostgresTranslator
{
    /// <param name="fetchLimit">At most this many rows, on top of the query's own LIMIT (the executor passes its row cap + 1).</param>
    public static PostgresStatement Translate(SqlQuery query, long databaseId, Identity caller, long? fetchLimit = null)
    {
        ArgumentNullException.ThrowIfNull(query);
        var writer = new Writer(caller);
        var bound = query.Bound;
        var sql = new StringBuilder("SELECT ");

        if (bound.IsCount)
            sql.Append("count(*)");
        else
            sql.AppendJoin(", ", bound.Outputs.Select(o => Writer.Column(o.Column!)));

        sql.Append(" FROM ").Append(bound.Sources[0].Table.PostgresName).Append(" AS t0");
        for (var i = 1; i < bound.Sources.Count; i++)
        {
            // A join without ON is every pair; what links the tables, if anything, is in WHERE, and the planner joins on it
            // all the same. A join that links nothing is what the cost check (and the caps behind it) are for.
            var on = bound.JoinConditions[i];
            sql.Append(on is null ? " CROSS JOIN " : " JOIN ").Append(bound.Sources[i].Table.PostgresName).Append(" AS t").Append(i);
            if (on is not null) sql.Append(" ON ").Append(writer.Expr(on));
        }

        // Every table instance, on both sides of every join, is held to the one database; the user's
        // condition comes after, in parentheses, so nothing in it can loosen that.
        writer.Add("db", NpgsqlDbType.Bigint, databaseId);
        sql.Append(" WHERE ").AppendJoin(" AND ", bound.Sources.Select((_, i) => $"t{i}.database_id = @db"));
        if (bound.Where is not null)
            sql.Append(" AND ").Append(writer.Expr(bound.Where));

        if (bound.OrderBy.Count > 0)
        {
            // Explicit NULLS placement (PostgreSQL's default: NULL sorts above every value), mirrored by the in-memory engine.
            sql.Append(" ORDER BY ").AppendJoin(", ", bound.OrderBy.Select(o =>
                writer.Expr(o.Expr, collate: true) + (o.Descending ? " DESC NULLS FIRST" : " ASC NULLS LAST")));
        }

        var limit = (bound.Limit, fetchLimit) switch
        {
            (null, null) => (long?)null,
            ({ } l, null) => l,
            (null, { } f) => f,
            ({ } l, { } f) => Math.Min(l, f),
        };
        if (limit is not null)
            sql.Append(" LIMIT ").Append(writer.Add("limit", NpgsqlDbType.Bigint, limit.Value));
        if (bound.Offset is not null)
            sql.Append(" OFFSET ").Append(writer.Add("offset", NpgsqlDbType.Bigint, bound.Offset.Value));

        return new PostgresStatement(sql.ToString(), writer.Parameters);
    }

    private sealed class Writer(Identity caller)
    {
        public List<NpgsqlParameter> Parameters { get; } = [];
        private int _next;
        private string? _sender;

        public string Add(string name, NpgsqlDbType type, object value)
        {
            Parameters.Add(new NpgsqlParameter(name, type) { Value = value });
            return "@" + name;
        }

        public static string Column(BoundColumn column) => $"t{column.Source}.{column.Column.PostgresName}";

        /// <summary>Text is compared and sorted by code point (COLLATE "C"), whatever the database's default collation.</summary>
        public string Expr(BoundExpr expr, bool collate = false)
        {
            var sql = expr switch
            {
                BoundColumn column => Column(column),
                BoundConstant constant => Constant(constant),
                BoundSender => _sender ??= Add("sender", NpgsqlDbType.Bytea, caller.ToBytes()),
                BoundComparison c => $"({Expr(c.Left, true)} {SqlComparison.Symbol(c.Operator)} {Expr(c.Right, true)})",
                BoundAnd and => "(" + string.Join(" AND ", and.Operands.Select(o => Expr(o))) + ")",
                BoundOr or => "(" + string.Join(" OR ", or.Operands.Select(o => Expr(o))) + ")",
                BoundNot not => $"(NOT {Expr(not.Operand)})",
                BoundIsNull isNull => $"({Expr(isNull.Operand)} IS {(isNull.Negated ? "NOT " : "")}NULL)",
                _ => throw new InvalidOperationException($"Unexpected bound node {expr.GetType().Name}."),
            };
            return collate && expr.Type == SqlType.String ? sql + " COLLATE \"C\"" : sql;
        }

        private string Constant(BoundConstant constant)
        {
            var name = "p" + _next++;
            return constant.Value switch
            {
                Identity identity => Add(name, NpgsqlDbType.Bytea, identity.ToBytes()),
                string text => Add(name, NpgsqlDbType.Text, text),
                bool flag => Add(name, NpgsqlDbType.Boolean, flag),
                DateTime timestamp => Add(name, NpgsqlDbType.TimestampTz, timestamp),
                // "offset" is a bigint; a larger literal stays exact as numeric, and compares correctly with it.
                ulong number when number <= long.MaxValue => Add(name, NpgsqlDbType.Bigint, (long)number),
                ulong number => Add(name, NpgsqlDbType.Numeric, (decimal)number),
                _ => throw new InvalidOperationException($"Unexpected constant {constant.Value.GetType().Name}."),
            };
        }
    }
}
