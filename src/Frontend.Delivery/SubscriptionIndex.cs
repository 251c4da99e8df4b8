using Chat.Sql;

namespace Chat.Frontend.Delivery;

/// <summary>
/// Which of a replica's subscription sets a changed row may concern. A query with a <c>column = constant</c> condition
/// (<see cref="SqlQuery.EqualityKey"/>) is filed under that column and value, so a change is tested only against the
/// sets keyed on its own values plus those without a key: sets that cannot match cost nothing per change, however many
/// there are. One per replica, used only on its work queue.
/// </summary>
internal sealed class SubscriptionIndex
{
    private readonly TableIndex _users = new();
    private readonly TableIndex _messages = new();

    public void Add(SubscriptionSet set)
    {
        foreach (var key in set.UserKeys) _users.Add(set, key);
        foreach (var key in set.MessageKeys) _messages.Add(set, key);
    }

    public void Remove(SubscriptionSet set)
    {
        foreach (var key in set.UserKeys) _users.Remove(set, key);
        foreach (var key in set.MessageKeys) _messages.Remove(set, key);
    }

    /// <summary>Sets that may see the message; each once.</summary>
    public IEnumerable<SubscriptionSet> For(MessageRow message) =>
        _messages.Candidates(column => SqlQuery.ColumnValue(message, column), null);

    /// <summary>Sets that may have seen <paramref name="old"/> or may see <paramref name="new"/>; each once.</summary>
    public IEnumerable<SubscriptionSet> For(UserRow? old, UserRow? @new) =>
        _users.Candidates(old is null ? null : column => SqlQuery.ColumnValue(old, column),
                          @new is null ? null : column => SqlQuery.ColumnValue(@new, column));

    private sealed class TableIndex
    {
        private readonly Dictionary<SqlEqualityKey, Dictionary<SubscriptionSet, int>> _keyed = [];
        // A set with two unkeyed queries on the table is here once, counted twice, so that removing one query keeps it.
        private readonly Dictionary<SubscriptionSet, int> _unkeyed = [];
        // How many keyed queries use each column: only those columns are looked up for a change.
        private readonly Dictionary<int, int> _columns = [];

        public void Add(SubscriptionSet set, SqlEqualityKey? key)
        {
            if (key is not { } k)
            {
                _unkeyed.Increment(set);
                return;
            }
            if (!_keyed.TryGetValue(k, out var sets)) _keyed[k] = sets = [];
            sets.Increment(set);
            _columns.Increment(k.Column);
        }

        public void Remove(SubscriptionSet set, SqlEqualityKey? key)
        {
            if (key is not { } k)
            {
                _unkeyed.Decrement(set);
                return;
            }
            if (!_keyed.TryGetValue(k, out var sets) || !sets.ContainsKey(set)) return;
            sets.Decrement(set);
            if (sets.Count == 0) _keyed.Remove(k);
            _columns.Decrement(k.Column);
        }

        public IEnumerable<SubscriptionSet> Candidates(Func<int, object?>? first, Func<int, object?>? second)
        {
            // The common case, a room where everyone follows every message, allocates nothing.
            if (_columns.Count == 0) return _unkeyed.Keys;
            var found = new HashSet<SubscriptionSet>(_unkeyed.Keys);
            foreach (var column in _columns.Keys)
            {
                AddKeyed(found, column, first?.Invoke(column));
                AddKeyed(found, column, second?.Invoke(column));
            }
            return found;
        }

        private void AddKeyed(HashSet<SubscriptionSet> found, int column, object? value)
        {
            // NULL equals nothing.
            if (value is not null && _keyed.TryGetValue(new SqlEqualityKey(column, value), out var sets))
                found.UnionWith(sets.Keys);
        }
    }
}
