using Chat.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend.Delivery;

/// <summary>A replica's feed changes: checked against its position, applied to its rows, and sent to the sets they concern.</summary>
public sealed partial class DatabaseReplica
{
    private async Task Apply(ChangeBatch batch)
    {
        if (batch.Epoch != _epoch || batch.FirstSequence > _nextSequence || batch.DatabaseId != _databaseId)
        {
            _logger.FeedOutOfStep(_database, batch.Epoch, batch.FirstSequence, _epoch, _nextSequence);
            await Resynchronise();
            return;
        }
        var skip = (int)(_nextSequence - batch.FirstSequence); // a batch we have (partly) seen already
        if (skip >= batch.Events.Count) return;
        foreach (var change in batch.Events.Skip(skip))
            await ApplyEvent(change);
        _nextSequence = batch.FirstSequence + batch.Events.Count;
    }

    private async Task ApplyEvent(ChangeEvent change)
    {
        if (change.Message is { } message)
        {
            if (message.Offset <= _lastOffset) return;
            if (message.Offset > _lastOffset + 1)
                await CatchUpMessages(message.Offset - 1); // a publish was lost: fill in from PostgreSQL
            _lastOffset = message.Offset;
            Deliver(change, "Message", null, null, message, _index.For(message), set => (false, set.Matches(message)));
            JoinMessage(change, message);
        }
        else if (change.NewUser is { } user)
        {
            var current = _users.GetValueOrDefault(user.Identity);
            if (current is not null && current.Version >= change.UserVersion) return;
            _users[user.Identity] = new VersionedUser(user, change.UserVersion);
            var old = current?.Row;
            Deliver(change, "User", old, user, null, _index.For(old, user), set => (old is not null && set.Matches(old), set.Matches(user)));
            await JoinUser(change, old, user);
        }
        else if (change.OldUser is { } gone)
        {
            // A user row deleted (an anonymous user expired): gone for the sets that saw it, unless a later write recreated it.
            var current = _users.GetValueOrDefault(gone.Identity);
            if (current is null || current.Version >= change.UserVersion) return;
            _users.Remove(gone.Identity);
            Deliver(change, "User", current.Row, null, null, _index.For(current.Row, null), set => (set.Matches(current.Row), false));
            await JoinUser(change, current.Row, null);
        }
    }

    private static TableUpdate Update(string table, UserRow? deleted, UserRow? inserted, MessageRow? message)
    {
        var update = new TableUpdate { Table = table };
        if (deleted is not null) update.DeletedUsers.Add(deleted.ToProto());
        if (inserted is not null) update.InsertedUsers.Add(inserted.ToProto());
        if (message is not null) update.InsertedMessages.Add(message.ToProto());
        return update;
    }

    /// <summary>
    /// Sends the change to every set it concerns. Sets that see the same rows get the very same message object
    /// (built once, never changed afterwards), so a change costs one message per shape, not one per subscriber.
    /// </summary>
    /// <param name="candidates">The sets the change may concern (<see cref="SubscriptionIndex"/>); the others cannot match.</param>
    /// <param name="match">For a set: whether it saw the old row (a delete) and whether it sees the new one (an insert).</param>
    private static void Deliver(ChangeEvent change, string table, UserRow? old, UserRow? @new, MessageRow? message,
        IEnumerable<SubscriptionSet> candidates, Func<SubscriptionSet, (bool Was, bool Is)> match)
    {
        var built = new Dictionary<(bool Was, bool Is, bool Own), ServerMessage>();
        foreach (var set in candidates)
        {
            var (was, @is) = match(set);
            if (!was && !@is) continue;
            var own = change.Caller.ConnectionId == set.Connection.Id;
            if (!built.TryGetValue((was, @is, own), out var shared))
            {
                var update = Transaction(change, own);
                update.Tables.Add(Update(table, was ? old : null, @is ? @new : null, @is ? message : null));
                built[(was, @is, own)] = shared = new ServerMessage { TransactionUpdate = update };
            }
            Send(set, shared);
            ChatMetrics.Delivered(change.Timestamp);
        }
    }

    private static TransactionUpdate Transaction(ChangeEvent change, bool own) => new()
    {
        Reducer = change.Reducer,
        CallerIdentity = change.Caller.Identity.ToString(),
        CallerConnectionId = change.Caller.ConnectionId?.ToString() ?? "",
        Timestamp = Timestamp.FromDateTime(change.Timestamp),
        OwnCall = own,
        RequestId = own ? change.Caller.RequestId ?? 0 : 0,
        Status = "committed",
    };

    /// <summary>A message the feed never delivered, read back from PostgreSQL: its caller is its sender, without a connection.</summary>
    private static ChangeEvent CaughtUp(MessageRow row) =>
        new(ChatModule.SendMessage, new ReducerCaller(row.Sender), DateTime.SpecifyKind(row.Sent, DateTimeKind.Utc), null, null, 0, row);

    /// <summary>
    /// Live updates go to the connection's bounded queue; while the set's snapshot is still being sent they wait beside it,
    /// bounded the same way: a client that does not read its snapshot would otherwise have every update held for it.
    /// </summary>
    private static void Send(SubscriptionSet set, ServerMessage message)
    {
        if (set.Pending is not { } pending)
        {
            set.Connection.TrySend(message);
            return;
        }
        if (set.Connection.EvictedBecause is not null) return;
        if (pending.Count >= set.Connection.Capacity)
        {
            pending.Clear();
            set.Connection.Evict($"Disconnected: this client could not keep up: its snapshot was still being sent while {set.Connection.Capacity} " +
                                 "updates waited behind it (they were dropped). Read faster, or subscribe to less; then reconnect and subscribe again.");
            return;
        }
        pending.Add(message);
    }
}
