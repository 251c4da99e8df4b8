using Npgsql;

namespace Chat.Storage;

/// <summary>Messages inserted but not committed yet; see <see cref="MessageStore.PrepareMessagesAsync"/>.</summary>
public sealed class PreparedMessages : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly long _databaseId;
    private readonly NpgsqlTransaction _transaction;
    private bool _done;

    internal PreparedMessages(NpgsqlConnection connection, long databaseId, NpgsqlTransaction transaction) =>
        (_connection, _databaseId, _transaction) = (connection, databaseId, transaction);

    /// <summary>
    /// Makes the messages durable, once the group ending at <paramref name="previousOffset"/> (if any) has committed:
    /// the wait happens inside PostgreSQL, so this can be called before that group's commit is acknowledged. Throws
    /// <see cref="PreviousGroupNotCommittedException"/> (nothing stored) if that group did not commit, and
    /// <see cref="CommitOutcomeUnknownException"/> if the connection broke after the COMMIT went out.
    /// </summary>
    public async Task CommitAsync(long? previousOffset = null)
    {
        await using var batch = new NpgsqlBatch(_connection);
        if (previousOffset is { } offset)
        {
            var follow = new NpgsqlBatchCommand("SELECT chat.follow_group($1, $2)");
            follow.Parameters.Add(new NpgsqlParameter { Value = _databaseId });
            follow.Parameters.Add(new NpgsqlParameter { Value = offset });
            batch.BatchCommands.Add(follow);
        }
        batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
        try
        {
            // A failed follow skips the COMMIT behind it (one Sync for the batch); the dispose rolls back.
            await batch.ExecuteNonQueryAsync();
            _done = true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrors.PreviousGroupMissing)
        {
            throw new PreviousGroupNotCommittedException(e);
        }
        catch (Exception e) when (PostgresErrors.IsLostConnection(e))
        {
            _done = true;
            // The commit was sent: PostgreSQL may have made it durable before the connection broke.
            throw new CommitOutcomeUnknownException(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_done) await _transaction.RollbackAsync();
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or IOException)
        {
            // The connection broke: the server rolls the transaction back itself.
        }
        finally
        {
            await _transaction.DisposeAsync();
            await _connection.DisposeAsync();
        }
    }
}
