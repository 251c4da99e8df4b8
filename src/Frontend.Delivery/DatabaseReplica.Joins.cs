using Chat.Api.V1;
using Chat.Sql;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend.Delivery;

/// <summary>A replica's sets with join queries: each change is offered to every one of them (they are not in the index).</summary>
public sealed partial class DatabaseReplica
{
    /// <summary>Offers a message to every set with joins (<see cref="JoinState.MessageArrived"/>).</summary>
    private void JoinMessage(ChangeEvent change, MessageRow message)
    {
        foreach (var set in _joinSets.ToList())
        {
            try
            {
                if (set.Join!.MessageArrived(message, _users) is { } tables) SendTables(set, change, tables);
            }
            catch (SqlQueryException e)
            {
                DropJoinSet(set, e.Message);
            }
        }
    }

    /// <summary>
    /// Offers a user change to every set with joins (<see cref="JoinState.UserChanged"/>); <see cref="_users"/> already holds it.
    /// A set whose change cannot be worked out (its messages could not be read) is ended with an error rather than left wrong.
    /// </summary>
    private async Task JoinUser(ChangeEvent change, UserRow? old, UserRow? @new)
    {
        if (_joinSets.Count == 0) return;
        var reader = _grains.GetGrain<ITableReaderGrain>(0);
        // Sets with the same query read its messages once per change (those naming :sender, once per subscriber).
        var reads = new Dictionary<(string Text, Identity Caller), IReadOnlyList<MessageRow>>();
        async Task<IReadOnlyList<MessageRow>> ReadMessages(string text, Identity caller)
        {
            var key = (text, text.Contains(":sender", StringComparison.Ordinal) ? caller : default);
            if (reads.TryGetValue(key, out var known)) return known;
            var all = new List<MessageRow>();
            for (var after = 0L; after < _lastOffset;)
            {
                var rows = await reader.ReadMessages(_databaseId, text, caller, after, _lastOffset, CatchUpChunk);
                if (rows.Count == 0) break;
                all.AddRange(rows);
                after = rows[^1].Offset;
            }
            return reads[key] = all;
        }
        foreach (var set in _joinSets.ToList())
        {
            try
            {
                if (await set.Join!.UserChanged(old, @new, _users, ReadMessages) is { } tables) SendTables(set, change, tables);
            }
            catch (Exception e)
            {
                _logger.JoinCouldNotFollow(_database, set.Connection.Id, e.GetBaseException().Message);
                DropJoinSet(set, e is SqlQueryException ? e.Message : $"This join subscription could not follow a change ({e.GetBaseException().Message}); subscribe again.");
            }
        }
    }

    private static void SendTables(SubscriptionSet set, ChangeEvent change, TableUpdate[] tables)
    {
        var update = Transaction(change, change.Caller.ConnectionId == set.Connection.Id);
        update.Tables.AddRange(tables);
        Send(set, new ServerMessage { TransactionUpdate = update });
        ChatMetrics.Delivered(change.Timestamp);
    }

    private void DropJoinSet(SubscriptionSet set, string error)
    {
        _sets.Remove(set);
        _joinSets.Remove(set);
        set.Dropped = true;
        set.Connection.ReleaseSubscription(set);
        ChatMetrics.SubscriptionsChanged(-1);
        set.Connection.TrySend(new ServerMessage { SubscriptionError = new SubscriptionError { RequestId = set.RequestId, Error = error } });
    }
}
