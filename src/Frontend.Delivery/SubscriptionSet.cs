using Chat.Api.V1;
using Chat.Sql;

namespace Chat.Frontend.Delivery;

/// <summary>The queries of one Subscribe request of one connection: rows go out once per set, even if two queries match.</summary>
public sealed class SubscriptionSet(ClientConnection connection, uint requestId, IReadOnlyList<SqlQuery> queries)
{
    public ClientConnection Connection => connection;
    public uint RequestId => requestId;
    public IReadOnlyList<SqlQuery> Queries => queries;
    // Split once: every committed change is matched against every set, so this runs on the hot path.
    public IReadOnlyList<SqlQuery> UserQueries { get; } = queries.Where(q => q.Tables is ["User"]).ToArray();
    public IReadOnlyList<SqlQuery> MessageQueries { get; } = queries.Where(q => q.Tables is ["Message"]).ToArray();

    /// <summary>The plans of the set's join queries (<see cref="SqlQuery.JoinPlan"/>), which cost more to follow.</summary>
    public IReadOnlyList<SqlJoinPlan> Joins { get; } = queries.Select(q => q.JoinPlan).OfType<SqlJoinPlan>().ToArray();

    /// <summary>Null for a set without joins; such a set is followed through the <see cref="SubscriptionIndex"/> instead.</summary>
    internal JoinState? Join => _join ??= Joins.Count == 0 ? null : new JoinState(this);
    private JoinState? _join;

    /// <summary>Each query's <see cref="SqlQuery.EqualityKey"/>, in the order of <see cref="UserQueries"/> and <see cref="MessageQueries"/>.</summary>
    public IReadOnlyList<SqlEqualityKey?> UserKeys => _userKeys ??= UserQueries.Select(q => q.EqualityKey(connection.Identity)).ToArray();
    public IReadOnlyList<SqlEqualityKey?> MessageKeys => _messageKeys ??= MessageQueries.Select(q => q.EqualityKey(connection.Identity)).ToArray();
    private SqlEqualityKey?[]? _userKeys, _messageKeys;

    /// <summary>Characters of query text: what the set costs its connection's <see cref="GatewayOptions.MaxSubscriptionTextPerConnection"/>.</summary>
    public int TextLength { get; } = queries.Sum(q => q.Text.Length);

    /// <summary>Updates that committed while the snapshot was being sent; null once the set is live.</summary>
    public List<ServerMessage>? Pending { get; set; } = [];

    private volatile bool _dropped;

    /// <summary>The replica dropped the set (its database was deleted or republished) and sent it a SubscriptionError.</summary>
    public bool Dropped { get => _dropped; set => _dropped = value; }

    public bool Matches(UserRow row)
    {
        foreach (var query in UserQueries)
            if (InMemorySqlEngine.Matches(query, row, connection.Identity)) return true;
        return false;
    }

    public bool Matches(MessageRow row)
    {
        foreach (var query in MessageQueries)
            if (InMemorySqlEngine.Matches(query, row, connection.Identity)) return true;
        return false;
    }
}
