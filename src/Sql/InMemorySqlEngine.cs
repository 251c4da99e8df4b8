namespace Chat.Sql;

/// <summary>
/// Runs a <see cref="SqlQuery"/> over rows held in memory, with exactly the semantics of the
/// PostgreSQL translation: three-valued logic, text by code point, identities bytewise, NULLs sorting
/// above every value, and the same total order (the query's keys, then each table's primary key).
/// </summary>
public static class InMemorySqlEngine
{
    /// <summary>
    /// Most pairs of rows a query's joins may look at (<see cref="Execute"/>'s <c>maxCombinations</c>): what stands in
    /// here for PostgreSQL's cost limit, so that a join linking nothing over big inputs is refused rather than left to
    /// grow quadratically.
    /// </summary>
    public const long DefaultMaxCombinations = 1_000_000;

    /// <exception cref="SqlQueryException">The joins would look at more than <paramref name="maxCombinations"/> pairs of rows.</exception>
    public static SqlResult Execute(
        SqlQuery query, IReadOnlyList<UserRow> users, IReadOnlyList<MessageRow> messages, Identity caller, int rowCap,
        long maxCombinations = DefaultMaxCombinations)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rowCap);
        var bound = query.Bound;
        var evaluator = new Evaluator(caller);
        var budget = new Budget(maxCombinations);

        object?[][] RowsOf(TableInfo table) =>
            table == Schema.User ? users.Select(ToValues).ToArray() : messages.Select(ToValues).ToArray();

        // A joined row is one value array per source. Each condition is applied as soon as its tables are all there.
        var steps = ConditionsByStep(bound);
        IEnumerable<object?[][]> joined = RowsOf(bound.Sources[0].Table).Select(r => new[] { r })
            .Where(r => evaluator.AllTrue(steps[0], r));
        for (var i = 1; i < bound.Sources.Count; i++)
            joined = Join(joined.ToList(), i, RowsOf(bound.Sources[i].Table), steps[i], evaluator, budget);

        List<object?[]> rows;
        if (bound.IsCount)
        {
            rows = [[(ulong)joined.LongCount()]];
        }
        else
        {
            var sorted = joined.ToList();
            sorted.Sort((a, b) => CompareRows(bound.OrderBy, a, b, evaluator));
            rows = sorted.Select(r => bound.Outputs.Select(o => r[o.Column!.Source][o.Column.Column.Ordinal]).ToArray()).ToList();
        }

        IEnumerable<object?[]> page = rows;
        if (bound.Offset is { } offset) page = page.Skip((int)Math.Min(offset, int.MaxValue));
        if (bound.Limit is { } limit) page = page.Take((int)Math.Min(limit, int.MaxValue));
        var result = page.Take(rowCap + 1).ToList();
        var truncated = result.Count > rowCap;
        if (truncated) result.RemoveAt(rowCap);
        return new SqlResult(query.Columns, result, truncated);
    }

    /// <summary>Whether <paramref name="row"/> passes the WHERE of <paramref name="query"/>, a query on User alone.</summary>
    public static bool Matches(SqlQuery query, UserRow row, Identity caller) =>
        MatchesSingle(query, Schema.User, ToValues(row), caller);

    /// <summary>Whether <paramref name="row"/> passes the WHERE of <paramref name="query"/>, a query on Message alone.</summary>
    public static bool Matches(SqlQuery query, MessageRow row, Identity caller) =>
        MatchesSingle(query, Schema.Message, ToValues(row), caller);

    private static bool MatchesSingle(SqlQuery query, TableInfo table, object?[] values, Identity caller)
    {
        ArgumentNullException.ThrowIfNull(query);
        var bound = query.Bound;
        if (bound.Sources.Count != 1 || bound.Sources[0].Table != table)
            throw new SqlQueryException($"The query reads {string.Join(" and ", query.Tables)}; a {table.Name} row can only be matched against a query on {table.Name} alone");
        return bound.Where is null || new Evaluator(caller).Eval(bound.Where, [values]) is true;
    }

    /// <summary>Whether every condition is true of the joined row (one value array per source; a source no condition reads may be null).</summary>
    internal static bool AllTrue(List<BoundExpr> conditions, object?[][] row, Identity caller) =>
        new Evaluator(caller).AllTrue(conditions, row);

    internal static object?[] ToValues(UserRow row) => [row.Identity, row.Name, row.Online];

    internal static object?[] ToValues(MessageRow row) =>
        [row.Sender, DateTime.SpecifyKind(row.Sent, DateTimeKind.Utc), row.Text, (ulong)row.Offset];

    /// <summary>
    /// For each source, the conditions to check once it is joined: its ON, and every ANDed part of WHERE whose last table
    /// it is (those without a table go with the first). For inner joins ON and WHERE filter alike, so where a condition is
    /// checked cannot change the answer, only how many rows are carried along; and a link written in WHERE, the way
    /// SpacetimeDB's JOIN without ON is used, serves the hash join as well as one in ON.
    /// </summary>
    private static List<BoundExpr>[] ConditionsByStep(BoundQuery bound)
    {
        var steps = bound.Sources.Select(_ => new List<BoundExpr>()).ToArray();
        for (var i = 1; i < steps.Length; i++)
            if (bound.JoinConditions[i] is { } on)
                steps[i].AddRange(Conjuncts(on));
        if (bound.Where is not null)
            foreach (var condition in Conjuncts(bound.Where))
                steps[Math.Max(0, LastSource(condition))].Add(condition);
        return steps;
    }

    private static IEnumerable<BoundExpr> Conjuncts(BoundExpr expr) =>
        expr is BoundAnd and ? and.Operands.SelectMany(Conjuncts) : [expr];

    private static int LastSource(BoundExpr expr) => expr switch
    {
        BoundColumn column => column.Source,
        BoundComparison c => Math.Max(LastSource(c.Left), LastSource(c.Right)),
        BoundAnd and => and.Operands.Max(LastSource),
        BoundOr or => or.Operands.Max(LastSource),
        BoundNot not => LastSource(not.Operand),
        BoundIsNull isNull => LastSource(isNull.Operand),
        _ => -1,
    };

    /// <summary>
    /// A hash join on the column equalities that link the new table to the earlier ones keeps this linear rather than
    /// quadratic; whatever is left is checked row by row. With no such link every pair is a candidate, which the budget
    /// refuses up front when there are too many.
    /// </summary>
    private static IEnumerable<object?[][]> Join(
        List<object?[][]> left, int source, object?[][] right, List<BoundExpr> conditions, Evaluator evaluator, Budget budget)
    {
        var links = new List<(BoundColumn Mine, BoundColumn Theirs)>();
        foreach (var condition in conditions)
        {
            if (condition is BoundComparison { Operator: SqlComparisonOperator.Equal, Left: BoundColumn l, Right: BoundColumn r })
            {
                if (l.Source == source && r.Source < source) links.Add((l, r));
                else if (r.Source == source && l.Source < source) links.Add((r, l));
            }
        }
        if (links.Count == 0)
        {
            budget.Spend((long)left.Count * right.Length);
            foreach (var row in left)
                foreach (var candidate in right)
                {
                    var combined = Append(row, candidate);
                    if (evaluator.AllTrue(conditions, combined)) yield return combined;
                }
            yield break;
        }

        var index = new Dictionary<Key, List<object?[]>>();
        foreach (var candidate in right)
        {
            var key = new Key(links.Select(link => candidate[link.Mine.Column.Ordinal]).ToArray());
            // NULL equals nothing, so a row with a NULL key can never join.
            if (key.HasNull) continue;
            if (!index.TryGetValue(key, out var bucket)) index[key] = bucket = [];
            bucket.Add(candidate);
        }
        foreach (var row in left)
        {
            var key = new Key(links.Select(link => row[link.Theirs.Source][link.Theirs.Column.Ordinal]).ToArray());
            if (key.HasNull || !index.TryGetValue(key, out var bucket)) continue;
            budget.Spend(bucket.Count);
            foreach (var candidate in bucket)
            {
                var combined = Append(row, candidate);
                if (evaluator.AllTrue(conditions, combined)) yield return combined;
            }
        }
    }

    private sealed class Budget(long limit)
    {
        private long _spent;

        public void Spend(long pairs)
        {
            _spent += pairs;
            if (_spent > limit)
                throw new SqlQueryException(
                    $"This query's joins would look at more than {limit:N0} pairs of rows. " +
                    "Link the tables with = (in ON or WHERE), narrow them with WHERE, or join fewer rows.");
        }
    }

    private static object?[][] Append(object?[][] row, object?[] next)
    {
        var combined = new object?[row.Length + 1][];
        row.CopyTo(combined, 0);
        combined[^1] = next;
        return combined;
    }

    /// <summary>Equal exactly when the values compare equal in SQL: strings ordinally, the rest by value.</summary>
    private readonly struct Key(object?[] values) : IEquatable<Key>
    {
        public bool HasNull => values.Any(v => v is null);

        public bool Equals(Key other) => values.AsSpan().SequenceEqual(other.Values, EqualityComparer<object?>.Default);

        private object?[] Values => values;

        public override bool Equals(object? obj) => obj is Key other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (var value in values) hash.Add(value);
            return hash.ToHashCode();
        }
    }

    private static int CompareRows(IReadOnlyList<BoundOrder> order, object?[][] a, object?[][] b, Evaluator evaluator)
    {
        foreach (var key in order)
        {
            var x = evaluator.Eval(key.Expr, a);
            var y = evaluator.Eval(key.Expr, b);
            // NULL sorts above every value: last ascending, first descending, as PostgreSQL does by default.
            var c = (x, y) switch
            {
                (null, null) => 0,
                (null, _) => 1,
                (_, null) => -1,
                _ => SqlValues.Compare(x, y),
            };
            if (c != 0) return key.Descending ? -c : c;
        }
        return 0;
    }

    private sealed class Evaluator(Identity caller)
    {
        public bool AllTrue(List<BoundExpr> conditions, object?[][] row)
        {
            foreach (var condition in conditions)
                if (Eval(condition, row) is not true) return false;
            return true;
        }

        /// <summary>Conditions give true, false or null (unknown), as in SQL.</summary>
        public object? Eval(BoundExpr expr, object?[][] row)
        {
            switch (expr)
            {
                case BoundColumn column:
                    return row[column.Source][column.Column.Ordinal];
                case BoundConstant constant:
                    return constant.Value;
                case BoundSender:
                    return caller;
                case BoundComparison comparison:
                {
                    var left = Eval(comparison.Left, row);
                    var right = Eval(comparison.Right, row);
                    if (left is null || right is null) return null;
                    var c = SqlValues.Compare(left, right);
                    return comparison.Operator switch
                    {
                        SqlComparisonOperator.Equal => c == 0,
                        SqlComparisonOperator.NotEqual => c != 0,
                        SqlComparisonOperator.Less => c < 0,
                        SqlComparisonOperator.Greater => c > 0,
                        SqlComparisonOperator.LessOrEqual => c <= 0,
                        _ => c >= 0,
                    };
                }
                case BoundAnd and:
                {
                    // false wins over unknown; unknown wins over true.
                    object? result = true;
                    foreach (var operand in and.Operands)
                    {
                        var value = Eval(operand, row);
                        if (value is false) return false;
                        if (value is null) result = null;
                    }
                    return result;
                }
                case BoundOr or:
                {
                    object? result = false;
                    foreach (var operand in or.Operands)
                    {
                        var value = Eval(operand, row);
                        if (value is true) return true;
                        if (value is null) result = null;
                    }
                    return result;
                }
                case BoundNot not:
                    return Eval(not.Operand, row) is bool b ? !b : null;
                case BoundIsNull isNull:
                    return (Eval(isNull.Operand, row) is null) != isNull.Negated;
                default:
                    throw new InvalidOperationException($"Unexpected bound node {expr.GetType().Name}.");
            }
        }
    }
}

/// <summary>Comparison of two non-null values of one SQL type, in PostgreSQL's order for the column types we map to.</summary>
internal static class SqlValues
{
    public static int Compare(object x, object y) => (x, y) switch
    {
        (Identity a, Identity b) => CompareIdentities(a, b),
        (string a, string b) => CompareCodePoints(a, b),
        (bool a, bool b) => a.CompareTo(b),
        (DateTime a, DateTime b) => a.Ticks.CompareTo(b.Ticks),
        (ulong a, ulong b) => a.CompareTo(b),
        _ => throw new InvalidOperationException($"Cannot compare {x.GetType().Name} with {y.GetType().Name}."),
    };

    /// <summary>bytea compares bytewise; the words are the bytes read big-endian, so word by word is the same order.</summary>
    public static int CompareIdentities(Identity a, Identity b)
    {
        var c = a.W0.CompareTo(b.W0);
        if (c == 0) c = a.W1.CompareTo(b.W1);
        if (c == 0) c = a.W2.CompareTo(b.W2);
        if (c == 0) c = a.W3.CompareTo(b.W3);
        return c;
    }

    /// <summary>
    /// Code point order, which is what COLLATE "C" gives on UTF-8. Plain ordinal comparison of UTF-16
    /// differs for characters above U+FFFF against U+E000–U+FFFF: surrogates are lifted above those.
    /// </summary>
    public static int CompareCodePoints(string a, string b)
    {
        var length = Math.Min(a.Length, b.Length);
        for (var i = 0; i < length; i++)
        {
            if (a[i] == b[i]) continue;
            return Lift(a[i]).CompareTo(Lift(b[i]));
        }
        return a.Length.CompareTo(b.Length);

        static int Lift(char c) => c >= 0xD800 ? (c <= 0xDFFF ? c + 0x2000 : c - 0x800) : c;
    }
}
