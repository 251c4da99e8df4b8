using Chat.Api.V1;
using Chat.Sql;

namespace Chat.Frontend.Delivery;

/// <summary>
/// What a subscription set with join queries needs to follow them, and the arithmetic of its changes. A set's rows are
/// the union of its queries' rows, each row once; a change is turned into the rows that left that union and the rows
/// that entered it, so a subscriber never gets an insert of a row it has nor a delete of one it lacks.
/// <list type="bullet">
/// <item><see cref="SqlJoinShape.UsersByUser"/>: the query's current users, recomputed from the replica's users when one changes.</item>
/// <item><see cref="SqlJoinShape.MessagesByUser"/>: nothing; a message is tested against its sender's row, and a changed
/// user's messages are read from PostgreSQL by sender, up to the replica's offset.</item>
/// <item><see cref="SqlJoinShape.UsersByMessage"/>: the senders of the messages that pass the query's conditions on messages
/// (messages are never changed or deleted, so this set only grows).</item>
/// </list>
/// Used only on its replica's work queue, apart from <see cref="Prepare"/>, which runs before the set is registered.
/// </summary>
internal sealed class JoinState(SubscriptionSet set)
{
    /// <summary>Most distinct senders a users-by-message query may track: past it the subscription is refused.</summary>
    public const int MaxSenders = 100_000;

    private sealed class QueryState(SqlJoinPlan plan)
    {
        public SqlJoinPlan Plan => plan;
        public HashSet<Identity> Rows = [];
        public readonly HashSet<Identity> Senders = [];

        public bool HasMessages(Identity user) => plan.Linked ? Senders.Contains(user) : Senders.Count > 0;
    }

    private readonly QueryState[] _queries = set.Joins.Select(p => new QueryState(p)).ToArray();
    private long _preparedDatabase;
    private long _preparedOffset;

    private Identity Caller => set.Connection.Identity;

    private IEnumerable<QueryState> Of(SqlJoinShape shape) => _queries.Where(q => q.Plan.Shape == shape);

    /// <summary>Whether the set must read senders before it is registered (it has a users-by-message query).</summary>
    public bool NeedsPreparation => Of(SqlJoinShape.UsersByMessage).Any();

    /// <summary>Off the work queue: the senders of messages up to <paramref name="upto"/>, the expensive read, done before registering.</summary>
    public async Task Prepare(ITableReaderGrain reader, long databaseId, long upto)
    {
        foreach (var query in Of(SqlJoinShape.UsersByMessage))
            await ReadSenders(query, reader, databaseId, 0, upto);
        (_preparedDatabase, _preparedOffset) = (databaseId, upto);
    }

    /// <summary>On the work queue, when the set is registered: catch up from the prepared point and return the set's user rows now.</summary>
    public async Task<List<UserRow>> Start(ITableReaderGrain reader, long databaseId, long lastOffset, IReadOnlyCollection<UserRow> users)
    {
        if (NeedsPreparation)
        {
            if (_preparedDatabase != databaseId)
                throw new InvalidOperationException("The database was published again while the subscription started; subscribe again.");
            foreach (var query in Of(SqlJoinShape.UsersByMessage))
                await ReadSenders(query, reader, databaseId, _preparedOffset, lastOffset);
        }
        var all = users.ToList();
        foreach (var query in Of(SqlJoinShape.UsersByUser))
            query.Rows = query.Plan.Evaluate(all, Caller).ToHashSet();
        return all.Where(Contains).ToList();
    }

    private async Task ReadSenders(QueryState query, ITableReaderGrain reader, long databaseId, long after, long upto)
    {
        if (after >= upto || (!query.Plan.Linked && query.Senders.Count > 0)) return;
        var senders = await reader.ReadSenders(databaseId, query.Plan.MessageQuery(null), Caller, after, upto, query.Plan.Linked ? MaxSenders + 1 : 1);
        query.Senders.UnionWith(senders);
        if (query.Senders.Count > MaxSenders)
            throw new SqlQueryException($"This join subscription would follow messages of more than {MaxSenders:N0} senders; narrow it with WHERE on messages.");
    }

    /// <summary>Whether the set holds the user row now.</summary>
    public bool Contains(UserRow user)
    {
        if (set.Matches(user)) return true;
        foreach (var query in _queries)
        {
            if (query.Plan.Shape == SqlJoinShape.UsersByUser && query.Rows.Contains(user.Identity)) return true;
            if (query.Plan.Shape == SqlJoinShape.UsersByMessage && query.HasMessages(user.Identity) && query.Plan.UserMayMatch(user, Caller)) return true;
        }
        return false;
    }

    /// <summary>Whether the set holds the message, given the row of its sender (null when there is none).</summary>
    public bool Contains(MessageRow message, UserRow? sender)
    {
        if (set.Matches(message)) return true;
        if (sender is null) return false;
        foreach (var query in Of(SqlJoinShape.MessagesByUser))
            if (query.Plan.Matches(message, sender, Caller)) return true;
        return false;
    }

    /// <summary>
    /// The user <paramref name="old"/> became <paramref name="new"/> (either may be null); <paramref name="users"/> already
    /// holds the change. <paramref name="readMessages"/> gives the messages the set has seen that pass a one-table query
    /// (text, subscriber). Null when nothing changed for the set.
    /// </summary>
    public async Task<TableUpdate[]?> UserChanged(UserRow? old, UserRow? @new, IReadOnlyDictionary<Identity, VersionedUser> users,
        Func<string, Identity, Task<IReadOnlyList<MessageRow>>> readMessages)
    {
        var identity = (old ?? @new)!.Identity;
        UserRow? Before(Identity id) => id == identity ? old : users.GetValueOrDefault(id)?.Row;
        UserRow? After(Identity id) => id == identity ? @new : users.GetValueOrDefault(id)?.Row;

        // Users: the changed one, and those a self join's result gains or loses through it.
        var candidates = new HashSet<Identity> { identity };
        var recomputed = new List<(QueryState Query, HashSet<Identity> Rows)>();
        foreach (var query in Of(SqlJoinShape.UsersByUser))
        {
            var rows = query.Plan.Evaluate(users.Values.Select(u => u.Row).ToList(), Caller).ToHashSet();
            candidates.UnionWith(rows.Where(r => !query.Rows.Contains(r)));
            candidates.UnionWith(query.Rows.Where(r => !rows.Contains(r)));
            recomputed.Add((query, rows));
        }
        var was = candidates.Where(id => Before(id) is { } row && Contains(row)).ToHashSet();
        foreach (var (query, rows) in recomputed) query.Rows = rows;
        var deletedUsers = new List<UserRow>();
        var insertedUsers = new List<UserRow>();
        foreach (var id in candidates)
        {
            var (before, after) = (Before(id), After(id));
            var @is = after is not null && Contains(after);
            var had = was.Contains(id);
            if (had && (!@is || before != after)) deletedUsers.Add(before!);
            if (@is && (!had || before != after)) insertedUsers.Add(after!);
        }

        // Messages: the changed user's, read from PostgreSQL by sender, when a messages-by-user query may care.
        var deletedMessages = new List<MessageRow>();
        var insertedMessages = new List<MessageRow>();
        var byUser = Of(SqlJoinShape.MessagesByUser)
            .Where(q => (old is null || @new is null || q.Plan.UserChangeMatters(old, @new))
                        && ((old is not null && q.Plan.UserMayMatch(old, Caller)) || (@new is not null && q.Plan.UserMayMatch(@new, Caller))))
            .ToList();
        var seen = new HashSet<long>();
        foreach (var query in byUser)
        {
            foreach (var message in (await readMessages(query.Plan.MessageQuery([identity]), Caller)).Where(m => seen.Add(m.Offset)))
            {
                var had = Contains(message, old);
                var has = Contains(message, @new);
                if (had && !has) deletedMessages.Add(message);
                if (has && !had) insertedMessages.Add(message);
            }
        }
        return Updates(deletedUsers, insertedUsers, deletedMessages, insertedMessages);
    }

    /// <summary>A message arrived (<paramref name="users"/> are the users now). Null when nothing changed for the set.</summary>
    public TableUpdate[]? MessageArrived(MessageRow message, IReadOnlyDictionary<Identity, VersionedUser> users)
    {
        var sender = users.GetValueOrDefault(message.Sender)?.Row;
        List<MessageRow> insertedMessages = Contains(message, sender) ? [message] : [];

        // Users whose first joining message this is.
        var candidates = new HashSet<Identity>();
        var growing = new List<QueryState>();
        foreach (var query in Of(SqlJoinShape.UsersByMessage))
        {
            if (query.HasMessages(message.Sender) || !query.Plan.MessageMatches(message, Caller)) continue;
            growing.Add(query);
            if (query.Plan.Linked) candidates.Add(message.Sender);
            else candidates.UnionWith(users.Keys);
        }
        var insertedUsers = new List<UserRow>();
        if (growing.Count > 0)
        {
            var was = candidates.Where(id => users.GetValueOrDefault(id) is { } u && Contains(u.Row)).ToHashSet();
            foreach (var query in growing)
            {
                query.Senders.Add(message.Sender);
                if (query.Senders.Count > MaxSenders)
                    throw new SqlQueryException($"This join subscription now follows messages of more than {MaxSenders:N0} senders; narrow it with WHERE on messages.");
            }
            foreach (var id in candidates)
                if (!was.Contains(id) && users.GetValueOrDefault(id) is { } u && Contains(u.Row))
                    insertedUsers.Add(u.Row);
        }
        return Updates([], insertedUsers, [], insertedMessages);
    }

    private static TableUpdate[]? Updates(List<UserRow> deletedUsers, List<UserRow> insertedUsers, List<MessageRow> deletedMessages, List<MessageRow> insertedMessages)
    {
        var updates = new List<TableUpdate>();
        if (deletedUsers.Count > 0 || insertedUsers.Count > 0)
        {
            var users = new TableUpdate { Table = "User" };
            users.DeletedUsers.AddRange(deletedUsers.Select(u => u.ToProto()));
            users.InsertedUsers.AddRange(insertedUsers.Select(u => u.ToProto()));
            updates.Add(users);
        }
        if (deletedMessages.Count > 0 || insertedMessages.Count > 0)
        {
            var messages = new TableUpdate { Table = "Message" };
            messages.DeletedMessages.AddRange(deletedMessages.Select(m => m.ToProto()));
            messages.InsertedMessages.AddRange(insertedMessages.Select(m => m.ToProto()));
            updates.Add(messages);
        }
        return updates.Count == 0 ? null : updates.ToArray();
    }
}
