using System.Globalization;

namespace Chat.Sql;

/// <summary>How a two-table subscription is kept current; each shape has its own way of following changes.</summary>
public enum SqlJoinShape
{
    /// <summary><c>SELECT a.* FROM User a JOIN User b …</c>: both sides are user rows, all of which a gateway holds.</summary>
    UsersByUser,

    /// <summary><c>SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity …</c>: messages, by the user who sent them.</summary>
    MessagesByUser,

    /// <summary><c>SELECT u.* FROM User u JOIN Message m [ON u.identity = m.sender] …</c>: users, by whether matching messages exist.</summary>
    UsersByMessage,
}

/// <summary>
/// A join subscription taken apart for incremental maintenance: its result is the distinct rows of the projected table
/// (a semijoin) for which some row of the other table makes ON and WHERE true. The conditions are split into those on
/// the projected row alone, those on the other row alone, the <c>Message.sender = User.identity</c> link, and the rest.
/// </summary>
public sealed class SqlJoinPlan
{
    /// <summary>Most senders a message read names one by one; past it the read takes every sender and filters in memory.</summary>
    public const int MaxNamedSenders = 50;

    private readonly SqlQuery _query;
    private readonly int _projected;
    private readonly int _other;
    private readonly List<BoundExpr> _projectedOnly = [];
    private readonly List<BoundExpr> _otherOnly = [];
    private readonly List<BoundExpr> _all = [];
    private readonly bool _linked;
    // Positions of the user columns the conditions read, on the user side: a change to other columns changes nothing here.
    private readonly HashSet<int> _userColumns = [];

    private SqlJoinPlan(SqlQuery query, int projected, SqlJoinShape shape)
    {
        _query = query;
        _projected = projected;
        _other = 1 - projected;
        Shape = shape;
        var bound = query.Bound;
        var conjuncts = new List<BoundExpr>();
        if (bound.JoinConditions[1] is { } on) conjuncts.AddRange(Conjuncts(on));
        if (bound.Where is { } where) conjuncts.AddRange(Conjuncts(where));
        var mixed = new List<BoundExpr>();
        foreach (var condition in conjuncts)
        {
            _all.Add(condition);
            var sources = new HashSet<int>();
            CollectSources(condition, sources);
            CollectColumns(condition, shape == SqlJoinShape.MessagesByUser ? _other : _projected, _userColumns);
            if (!sources.Contains(_other)) _projectedOnly.Add(condition);
            else if (!sources.Contains(_projected)) _otherOnly.Add(condition);
            else if (IsSenderLink(condition)) _linked = true;
            else mixed.Add(condition);
        }
        if (shape == SqlJoinShape.MessagesByUser && !_linked)
            throw new SqlQueryException(
                $"A subscription to messages joined with users must link them by sender, as in ... ON {Name(0)}.sender = {Name(1)}.identity; " +
                "without it every user change could change every message");
        if (shape == SqlJoinShape.UsersByUser && !conjuncts.Any(c => c is BoundComparison { Operator: SqlComparisonOperator.Equal, Left: BoundColumn l, Right: BoundColumn r } && l.Source != r.Source))
            throw new SqlQueryException(
                $"A subscription joining User with itself must link the two with a column equality, as in ... ON {Name(0)}.name = {Name(1)}.name");
        if (shape == SqlJoinShape.UsersByMessage && mixed.Count > 0)
            throw new SqlQueryException(
                $"A subscription to users joined with messages may compare a user's columns with a message's only as " +
                $"{Name(_projected)}.identity = {Name(_other)}.sender; {Describe(mixed[0])} is not maintained. Filter each table on its own columns.");
    }

    private string Name(int source) => _query.Bound.Sources[source].Name;

    private string Describe(BoundExpr expr) => MessageText(expr, source => Name(source));

    /// <summary>The plan of a join subscription, or null for a query on one table.</summary>
    /// <exception cref="SqlQueryException">A join whose shape subscriptions do not follow; the message says why.</exception>
    public static SqlJoinPlan? For(SqlQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var bound = query.Bound;
        if (bound.Sources.Count == 1) return null;
        if (bound.Sources.Count > 2)
            throw new SqlQueryException("A subscription may join at most two tables (SpacetimeDB's limit too); run a query with more as ad hoc SQL");
        if (query.Syntax.Items is not [SqlTableStar])
            throw new SqlQueryException(
                $"A subscription over a join returns the rows of one table: write SELECT {bound.Sources[0].Name}.* or SELECT {bound.Sources[1].Name}.*, not {string.Join(", ", query.Syntax.Items)}");
        var projected = bound.Outputs[0].Column!.Source;
        var (mine, theirs) = (bound.Sources[projected].Table, bound.Sources[1 - projected].Table);
        SqlJoinShape shape;
        if (mine == Schema.User && theirs == Schema.User) shape = SqlJoinShape.UsersByUser;
        else if (mine == Schema.Message && theirs == Schema.User) shape = SqlJoinShape.MessagesByUser;
        else if (mine == Schema.User && theirs == Schema.Message) shape = SqlJoinShape.UsersByMessage;
        else
            throw new SqlQueryException("A subscription cannot join Message with itself: neither side is held where the gateway could follow it; run it as ad hoc SQL");
        return new SqlJoinPlan(query, projected, shape);
    }

    public SqlJoinShape Shape { get; }

    /// <summary>The table whose rows the subscription returns: <c>User</c> or <c>Message</c>.</summary>
    public string ProjectedTable => _query.Bound.Sources[_projected].Table.Name;

    /// <summary>Whether the join links <c>Message.sender</c> to <c>User.identity</c> (for <see cref="SqlJoinShape.UsersByMessage"/>, it need not).</summary>
    public bool Linked => _linked;

    /// <summary>For <see cref="SqlJoinShape.MessagesByUser"/>: whether the user passes the conditions on users alone (if not, none of their messages can match).</summary>
    public bool UserMayMatch(UserRow user, Identity caller) =>
        InMemorySqlEngine.AllTrue(Shape == SqlJoinShape.MessagesByUser ? _otherOnly : _projectedOnly, Pair(user, null), caller);

    /// <summary>For <see cref="SqlJoinShape.MessagesByUser"/>: whether the message joined with its sender passes ON and WHERE.</summary>
    public bool Matches(MessageRow message, UserRow sender, Identity caller) =>
        InMemorySqlEngine.AllTrue(_all, Pair(sender, message), caller);

    /// <summary>For <see cref="SqlJoinShape.UsersByMessage"/>: whether the message passes the conditions on messages alone.</summary>
    public bool MessageMatches(MessageRow message, Identity caller) =>
        InMemorySqlEngine.AllTrue(_otherOnly, Pair(null, message), caller);

    /// <summary>For <see cref="SqlJoinShape.UsersByUser"/>: the distinct projected users, evaluated over <paramref name="users"/>.</summary>
    /// <exception cref="SqlQueryException">The join would look at too many pairs of rows.</exception>
    public IEnumerable<Identity> Evaluate(IReadOnlyList<UserRow> users, Identity caller) =>
        InMemorySqlEngine.Execute(_query, users, [], caller, int.MaxValue - 1).Rows.Select(r => (Identity)r[0]!).Distinct();

    /// <summary>
    /// A one-table query on Message (text, for the reader grain) that every message this join can return passes:
    /// the conditions on messages alone, and, when <paramref name="senders"/> is given, <c>sender</c> among them.
    /// </summary>
    public string MessageQuery(IReadOnlyCollection<Identity>? senders)
    {
        if (Shape == SqlJoinShape.UsersByUser) throw new InvalidOperationException("A join of User with itself reads no messages.");
        var messageSide = Shape == SqlJoinShape.MessagesByUser ? _projectedOnly : _otherOnly;
        var parts = messageSide.Select(c => MessageText(c, _ => "Message")).ToList();
        if (senders is not null)
            parts.Add(senders.Count == 0 ? "false" : "(" + string.Join(" OR ", senders.Select(s => "Message.sender = 0x" + s)) + ")");
        return parts.Count == 0 ? "SELECT * FROM Message" : "SELECT * FROM Message WHERE " + string.Join(" AND ", parts);
    }

    private object?[][] Pair(UserRow? user, MessageRow? message)
    {
        var row = new object?[2][];
        var userSide = Shape == SqlJoinShape.MessagesByUser ? _other : _projected;
        if (user is not null) row[userSide] = InMemorySqlEngine.ToValues(user);
        if (message is not null) row[1 - userSide] = InMemorySqlEngine.ToValues(message);
        return row;
    }

    private static IEnumerable<BoundExpr> Conjuncts(BoundExpr expr) =>
        expr is BoundAnd and ? and.Operands.SelectMany(Conjuncts) : [expr];

    private static void CollectSources(BoundExpr expr, HashSet<int> sources)
    {
        switch (expr)
        {
            case BoundColumn column: sources.Add(column.Source); break;
            case BoundComparison c: CollectSources(c.Left, sources); CollectSources(c.Right, sources); break;
            case BoundAnd and: foreach (var o in and.Operands) CollectSources(o, sources); break;
            case BoundOr or: foreach (var o in or.Operands) CollectSources(o, sources); break;
            case BoundNot not: CollectSources(not.Operand, sources); break;
            case BoundIsNull isNull: CollectSources(isNull.Operand, sources); break;
        }
    }

    private static void CollectColumns(BoundExpr expr, int source, HashSet<int> columns)
    {
        switch (expr)
        {
            case BoundColumn column when column.Source == source: columns.Add(column.Column.Ordinal); break;
            case BoundComparison c: CollectColumns(c.Left, source, columns); CollectColumns(c.Right, source, columns); break;
            case BoundAnd and: foreach (var o in and.Operands) CollectColumns(o, source, columns); break;
            case BoundOr or: foreach (var o in or.Operands) CollectColumns(o, source, columns); break;
            case BoundNot not: CollectColumns(not.Operand, source, columns); break;
            case BoundIsNull isNull: CollectColumns(isNull.Operand, source, columns); break;
        }
    }

    /// <summary>
    /// For <see cref="SqlJoinShape.MessagesByUser"/>: whether a user's change from <paramref name="old"/> to <paramref name="new"/>
    /// can change which of their messages match, that is, whether a column the conditions read changed. Going online or
    /// offline, the commonest change, mostly does not, and then no message needs reading.
    /// </summary>
    public bool UserChangeMatters(UserRow old, UserRow @new)
    {
        var (before, after) = (InMemorySqlEngine.ToValues(old), InMemorySqlEngine.ToValues(@new));
        return _userColumns.Any(c => !Equals(before[c], after[c]));
    }

    private static bool IsSenderLink(BoundExpr expr) =>
        expr is BoundComparison { Operator: SqlComparisonOperator.Equal, Left: BoundColumn l, Right: BoundColumn r }
        && ((IsSender(l) && IsIdentity(r)) || (IsSender(r) && IsIdentity(l)));

    private static bool IsSender(BoundColumn c) => c.Column == Schema.Message.Columns[0];
    private static bool IsIdentity(BoundColumn c) => c.Column == Schema.User.Key;

    /// <summary>Prints a bound condition as query text our parser reads back to the same condition, columns named by <paramref name="qualifier"/>.</summary>
    private static string MessageText(BoundExpr expr, Func<int, string> qualifier) => expr switch
    {
        BoundColumn column => $"{qualifier(column.Source)}.{column.Column.Name}",
        BoundConstant { Value: Identity identity } => "0x" + identity,
        BoundConstant { Value: string text } => "'" + text.Replace("'", "''") + "'",
        BoundConstant { Value: bool flag } => flag ? "true" : "false",
        BoundConstant { Value: DateTime time } => "'" + time.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture) + "'",
        BoundConstant { Value: ulong number } => number.ToString(CultureInfo.InvariantCulture),
        BoundSender => ":sender",
        BoundComparison c => $"({MessageText(c.Left, qualifier)} {SqlComparison.Symbol(c.Operator)} {MessageText(c.Right, qualifier)})",
        BoundAnd and => "(" + string.Join(" AND ", and.Operands.Select(o => MessageText(o, qualifier))) + ")",
        BoundOr or => "(" + string.Join(" OR ", or.Operands.Select(o => MessageText(o, qualifier))) + ")",
        BoundNot not => $"(NOT {MessageText(not.Operand, qualifier)})",
        BoundIsNull isNull => $"({MessageText(isNull.Operand, qualifier)} IS {(isNull.Negated ? "NOT " : "")}NULL)",
        _ => throw new InvalidOperationException($"Unexpected bound node {expr.GetType().Name}."),
    };
}
