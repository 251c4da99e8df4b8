using Chat.Api.V1;
using Grpc.Core;

namespace Chat.Frontend.Delivery;

/// <summary>A replica's repair: what the feed lost is read back from PostgreSQL, and a database gone ends its sets.</summary>
public sealed partial class DatabaseReplica
{
    /// <summary>Messages committed but never delivered by the feed: read them by offset and deliver them in order.</summary>
    private async Task CatchUpMessages(long upto)
    {
        var reader = _grains.GetGrain<ITableReaderGrain>(0);
        // Sets with joins see every message in order, as if the feed had delivered it.
        if (_joinSets.Count > 0)
        {
            for (var after = _lastOffset; after < upto;)
            {
                var rows = await reader.ReadMessages(_databaseId, "SELECT * FROM Message", default, after, upto, CatchUpChunk);
                if (rows.Count == 0) break;
                foreach (var row in rows)
                    JoinMessage(CaughtUp(row), row);
                after = rows[^1].Offset;
            }
        }
        foreach (var set in _sets.Where(s => s.Join is null && s.MessageQueries.Count > 0))
        {
            var seen = new HashSet<long>();
            foreach (var query in set.MessageQueries)
            {
                for (var after = _lastOffset; after < upto;)
                {
                    var rows = await reader.ReadMessages(_databaseId, query.Text, set.Connection.Identity, after, upto, CatchUpChunk);
                    if (rows.Count == 0) break;
                    foreach (var row in rows.Where(r => seen.Add(r.Offset)))
                    {
                        var update = Transaction(CaughtUp(row), own: false);
                        update.Tables.Add(Update("Message", null, null, row));
                        Send(set, new ServerMessage { TransactionUpdate = update });
                    }
                    after = rows[^1].Offset;
                }
            }
        }
        _lastOffset = upto;
    }

    /// <summary>Starts over from PostgreSQL: re-subscribe to the feed, then take a snapshot and deliver the difference.</summary>
    private async Task Resynchronise()
    {
        _overflowed = false;
        var position = await _grains.GetChangeFeedGrain(_database).Subscribe(_observer);
        var snapshot = await _grains.GetGrain<ITableReaderGrain>(0).LoadSnapshot(_database);
        // Offsets of one database only grow: fewer messages than already delivered means its rows were deleted after its
        // descriptor was read. Taking that snapshot would lower the last offset and let old offsets be delivered again.
        if (snapshot is null || (_databaseId != 0 && (snapshot.DatabaseId != _databaseId || snapshot.LastOffset < _lastOffset)))
        {
            if (_databaseId == 0)
                throw new KeyNotFoundException($"Database '{_database}' does not exist.");
            // Deleted: a connection to it has nothing left to do, so it ends (NOT_FOUND), as a Connect to it now would.
            // Published again: the connection's user exists in the new database only once it connects again, but its
            // subscriptions can start over, so only they end.
            var deleted = snapshot is null;
            foreach (var set in _sets)
            {
                set.Dropped = true;
                set.Connection.ReleaseSubscription(set);
                if (deleted)
                    set.Connection.End(StatusCode.NotFound, $"Database '{_database}' was deleted, which ended this connection. Publish it again, then connect again.");
                else
                    set.Connection.TrySend(new ServerMessage { SubscriptionError = new SubscriptionError { RequestId = set.RequestId,
                        Error = $"Database '{_database}' was deleted or published again; subscribe again." } });
            }
            ChatMetrics.SubscriptionsChanged(-_sets.Count);
            _sets.Clear();
            _joinSets.Clear();
            _owner.Forget(this);
            Stop();
            return;
        }

        var fresh = snapshot.Users.ToDictionary(u => u.Row.Identity);
        if (_databaseId != 0)
        {
            var resync = new ChangeEvent("(resync)", new ReducerCaller(default), DateTime.UtcNow, null, null, 0, null);
            // Rows deleted meanwhile (expired anonymous users) are deleted for the sets that saw them. The users change one at
            // a time, so that sets with joins can follow each change against the users as they are at that point.
            foreach (var (identity, before) in _users.ToList())
            {
                if (fresh.ContainsKey(identity)) continue;
                _users.Remove(identity);
                Deliver(resync, "User", before.Row, null, null, _index.For(before.Row, null), set => (set.Matches(before.Row), false));
                await JoinUser(resync, before.Row, null);
            }
            foreach (var (identity, now) in fresh)
            {
                var before = _users.GetValueOrDefault(identity);
                if (before is not null && before.Version >= now.Version) continue;
                _users[identity] = now;
                Deliver(resync, "User", before?.Row, now.Row, null, _index.For(before?.Row, now.Row), set => (before is not null && set.Matches(before.Row), set.Matches(now.Row)));
                await JoinUser(resync, before?.Row, now.Row);
            }
            if (snapshot.LastOffset > _lastOffset)
                await CatchUpMessages(snapshot.LastOffset);
        }
        (_databaseId, _users, _lastOffset, _epoch, _nextSequence) = (snapshot.DatabaseId, fresh, snapshot.LastOffset, position.Epoch, position.NextSequence);
    }
}
