using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Runtime;

namespace Chat.Grains;

/// <summary>How many PostgreSQL connections a silo opens before it joins the cluster, and keeps open.</summary>
public sealed class PostgresWarmUpOptions
{
    /// <summary>0 turns the warm-up off.</summary>
    public int WarmConnections { get; set; } = 8;
}

/// <summary>
/// Opens <see cref="PostgresWarmUpOptions.WarmConnections"/> connections, each reading the chat tables once, before the silo
/// becomes active. A silo that joins a busy cluster gets its share of grains at once, and every first call on it would
/// otherwise open its own connection: a new server process that loads the tables' catalog entries, and Npgsql's type
/// loading on the very first. Forty identity_connected calls at once on a second silo, on a loaded 2-core machine: the
/// slowest took 0.8–1.3 s cold and 0.4–0.7 s warm; once, under heavier load, one cold call passed Orleans' 5 s timeout.
/// </summary>
public sealed class PostgresWarmUp(NpgsqlDataSource dataSource, IOptions<PostgresWarmUpOptions> options, ILogger<PostgresWarmUp> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>Reads each table the hot paths touch, so the server process caches their catalog entries.</summary>
    private const string TouchTables = """
        SELECT (SELECT 1 FROM chat.database LIMIT 1), (SELECT 1 FROM chat."user" LIMIT 1),
               (SELECT 1 FROM chat.connection LIMIT 1), (SELECT 1 FROM chat.message LIMIT 1), (SELECT 1 FROM chat.log LIMIT 1)
        """;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(PostgresWarmUp), ServiceLifecycleStage.ApplicationServices, WarmUpAsync);

    private async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        var count = options.Value.WarmConnections;
        if (count <= 0) return;
        // All held open at once, so the pool keeps that many afterwards (one after another would reuse a single connection).
        var opening = Enumerable.Range(0, count).Select(_ => OpenAndTouchAsync(cancellationToken)).ToArray();
        try
        {
            await Task.WhenAll(opening);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            // Only a head start: the silo serves without it, and PostgreSQL being down is reported by readiness.
            logger.WarmUpFailed(count, e.GetBaseException().Message);
        }
        finally
        {
            foreach (var opened in opening.Where(t => t.IsCompletedSuccessfully)) await opened.Result.DisposeAsync();
        }
    }

    private async Task<NpgsqlConnection> OpenAndTouchAsync(CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var command = new NpgsqlCommand(TouchTables, connection);
            await command.ExecuteScalarAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }
}
