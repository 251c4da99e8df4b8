using Chat.Api.V1;
using Chat.Sql;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Frontend.Delivery;

/// <summary>Subscribe and Unsubscribe for one connection: validates the queries, streams the snapshot, then goes live.</summary>
public sealed class Subscriptions(SubscriptionHub hub, IGrainFactory grains, IOptions<GatewayOptions> options, ILogger<Subscriptions> logger)
{
    /// <summary>The <c>limit</c> of <c>chat.gateway.refusals</c> for subscriptions past a connection's limits.</summary>
    public const string SubscriptionsLimit = "connection_subscriptions";

    public async Task SubscribeAsync(ClientConnection connection, Subscribe request, CancellationToken cancellationToken)
    {
        // Refused before parsing when it cannot fit anyway: parsing is the expensive part of a refusal.
        var limits = options.Value;
        if (connection.SubscriptionRefusal(request.Queries.Sum(q => q.Length), limits.MaxSubscriptionsPerConnection, limits.MaxSubscriptionTextPerConnection) is { } early)
        {
            await Refuse(connection, request.RequestId, early, cancellationToken, counted: true);
            return;
        }
        List<SqlQuery> queries;
        try
        {
            if (request.Queries.Count == 0)
                throw new SqlQueryException("Subscribe needs at least one query, like SELECT * FROM Message");
            queries = request.Queries.Select(SqlQuery.ParseSubscription).ToList();
        }
        catch (SqlQueryException e)
        {
            await Refuse(connection, request.RequestId, e.Message, cancellationToken);
            return;
        }

        var set = new SubscriptionSet(connection, request.RequestId, queries);
        if (connection.TryHoldSubscription(set, limits.MaxSubscriptionsPerConnection, limits.MaxSubscriptionTextPerConnection, limits.MaxJoinQueriesPerConnection) is { } refusal)
        {
            await Refuse(connection, request.RequestId, refusal, cancellationToken, counted: true);
            return;
        }
        DatabaseReplica replica;
        IReadOnlyList<UserRow> users;
        long databaseId, lastOffset;
        IReadOnlyDictionary<Identity, UserRow>? allUsers;
        try
        {
            (replica, users, databaseId, lastOffset, allUsers) = await hub.Subscribe(set);
        }
        catch (Exception e)
        {
            connection.ReleaseSubscription(set);
            // This request fails, not the connection: its other subscriptions and calls carry on.
            logger.SubscribeFailed(connection.Id, connection.Database, e.GetBaseException().Message);
            await Refuse(connection, request.RequestId, e is KeyNotFoundException or SqlQueryException or InvalidOperationException ? e.Message : $"The subscription could not be started; try again ({e.GetBaseException().Message}).", cancellationToken);
            return;
        }

        var chunk = Math.Max(1, options.Value.SnapshotChunkRows);
        foreach (var part in users.Chunk(chunk))
            await SendChunk(connection, request.RequestId, "User", part, [], last: false, cancellationToken);

        // Messages up to the snapshot's offset come from PostgreSQL, where the query's WHERE is evaluated, a chunk at a time.
        var reader = grains.GetGrain<ITableReaderGrain>(0);
        var byUser = set.Joins.Where(j => j.Shape == SqlJoinShape.MessagesByUser).ToList();
        var seen = set.MessageQueries.Count + byUser.Count > 1 ? new HashSet<long>() : null;
        foreach (var query in set.MessageQueries)
        {
            for (var after = 0L; after < lastOffset;)
            {
                var rows = await reader.ReadMessages(databaseId, query.Text, connection.Identity, after, lastOffset, chunk);
                if (rows.Count == 0) break;
                await SendChunk(connection, request.RequestId, "Message", [], seen is null ? rows : rows.Where(r => seen.Add(r.Offset)).ToList(), last: false, cancellationToken);
                after = rows[^1].Offset;
            }
        }
        // A join's messages are read by the conditions on messages alone (and by sender, when few users can match), then
        // joined here with the users as they were when the set registered, which is where its updates start from.
        foreach (var join in byUser)
        {
            var senders = allUsers!.Values.Where(u => join.UserMayMatch(u, connection.Identity)).Select(u => u.Identity).ToList();
            var text = join.MessageQuery(senders.Count <= SqlJoinPlan.MaxNamedSenders ? senders : null);
            for (var after = 0L; senders.Count > 0 && after < lastOffset;)
            {
                var rows = await reader.ReadMessages(databaseId, text, connection.Identity, after, lastOffset, chunk);
                if (rows.Count == 0) break;
                var matching = rows.Where(m => allUsers.GetValueOrDefault(m.Sender) is { } sender && join.Matches(m, sender, connection.Identity)
                                               && (seen is null || seen.Add(m.Offset))).ToList();
                await SendChunk(connection, request.RequestId, "Message", [], matching, last: false, cancellationToken);
                after = rows[^1].Offset;
            }
        }
        // Dropped meanwhile (its database was deleted or republished): its SubscriptionError is the last word, not an applied.
        if (set.Dropped) return;
        await connection.SendAsync(new ServerMessage { SubscribeApplied = new SubscribeApplied { RequestId = request.RequestId, Last = true } }, cancellationToken);
        try
        {
            await replica.GoLive(set);
        }
        catch (ObjectDisposedException)
        {
            // Only a dropped set's replica stops under it, and the set has been told; the connection carries on.
        }
    }

    public async Task UnsubscribeAsync(ClientConnection connection, uint requestId, CancellationToken cancellationToken)
    {
        var removed = 0;
        try
        {
            if (await hub.ReplicaIfAny(connection.Database) is { } replica)
                removed = await replica.Remove(s => s.Connection == connection && s.RequestId == requestId);
        }
        catch (Exception e) when (e is KeyNotFoundException or ObjectDisposedException)
        {
        }
        if (removed == 0)
            await Refuse(connection, requestId, $"No subscription with request id {requestId} on this connection.", cancellationToken);
        else
            await connection.SendAsync(new ServerMessage { UnsubscribeApplied = new UnsubscribeApplied { RequestId = requestId } }, cancellationToken);
    }

    /// <summary>The connection has ended: its subscriptions go with it.</summary>
    public async Task DropAsync(ClientConnection connection)
    {
        try
        {
            var replica = await hub.ReplicaIfAny(connection.Database);
            if (replica is not null) await replica.Remove(s => s.Connection == connection);
        }
        catch (Exception e) when (e is ObjectDisposedException or KeyNotFoundException)
        {
        }
    }

    private static Task SendChunk(ClientConnection connection, uint requestId, string table, UserRow[] users, IReadOnlyList<MessageRow> messages, bool last, CancellationToken cancellationToken)
    {
        if (users.Length == 0 && messages.Count == 0) return Task.CompletedTask;
        var rows = new TableRows { Table = table };
        rows.Users.AddRange(users.Select(u => u.ToProto()));
        rows.Messages.AddRange(messages.Select(m => m.ToProto()));
        var applied = new SubscribeApplied { RequestId = requestId, Last = last };
        applied.Tables.Add(rows);
        return connection.SendAsync(new ServerMessage { SubscribeApplied = applied }, cancellationToken).AsTask();
    }

    /// <param name="counted">A refusal by a limit: counted in <c>chat.gateway.refusals</c>, and logged once per connection.</param>
    private ValueTask Refuse(ClientConnection connection, uint requestId, string error, CancellationToken cancellationToken, bool counted = false)
    {
        if (counted)
        {
            ChatMetrics.Refused(SubscriptionsLimit);
            if (!connection.RefusalLogged)
            {
                connection.RefusalLogged = true;
                logger.SubscriptionRefused(connection.Id, connection.Identity, connection.Database, error);
            }
        }
        return connection.SendAsync(new ServerMessage { SubscriptionError = new SubscriptionError { RequestId = requestId, Error = error } }, cancellationToken);
    }
}
