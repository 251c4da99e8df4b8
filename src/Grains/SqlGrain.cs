using Chat.Sql;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Concurrency;

namespace Chat.Grains;

/// <summary>The <c>Chat:Sql</c> section.</summary>
public sealed class SqlOptions
{
    public int RowCap { get; set; } = 10_000;
    /// <summary>Keep it under Chat:Cluster:ResponseTimeout (5 s), or a slow query reads as the cluster not answering instead of its own timeout.</summary>
    public TimeSpan StatementTimeout { get; set; } = TimeSpan.FromSeconds(3);
    public int MaxResultBytes { get; set; } = SqlLimits.Default.MaxResultBytes;
    public double MaxCost { get; set; } = SqlLimits.Default.MaxCost;
}

/// <summary>
/// Parses the query with our own parser, translates it into one parameterised statement restricted to the
/// database's id, and runs it read-only with a timeout and a row cap. No query text reaches PostgreSQL.
/// Reentrant: how many queries run at once is the gateways' decision (per identity, per address, in all), not the
/// number of cores; otherwise one client's slow joins would queue everyone else's one-row queries behind them.
/// </summary>
[StatelessWorker, Reentrant]
public sealed class SqlGrain(NpgsqlDataSource dataSource, DatabaseDescriptorCache descriptors, IOptions<SqlOptions> options, ILogger<SqlGrain> logger) : Grain, ISqlGrain
{
    public async Task<SqlAnswer> Query(string database, string query, Identity caller)
    {
        SqlQuery parsed;
        try
        {
            parsed = SqlQuery.Parse(query);
        }
        catch (SqlQueryException e)
        {
            return new SqlAnswer(null, ReducerStatus.InvalidArgument, e.Message);
        }
        if (await descriptors.Get(database) is not { } descriptor)
            return new SqlAnswer(null, ReducerStatus.NotFound, $"Database '{database}' does not exist.");
        var limits = new SqlLimits { RowCap = options.Value.RowCap, StatementTimeout = options.Value.StatementTimeout, MaxResultBytes = options.Value.MaxResultBytes, MaxCost = options.Value.MaxCost };
        try
        {
            return new SqlAnswer(await PostgresSqlExecutor.ExecuteAsync(dataSource, descriptor.Id, parsed, caller, limits, CancellationToken.None), ReducerStatus.Committed, null);
        }
        catch (SqlQueryException e)
        {
            return new SqlAnswer(null, ReducerStatus.InvalidArgument, e.Message);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            logger.SqlFailed(database, e.GetBaseException().Message);
            return new SqlAnswer(null, ReducerStatus.Unavailable, $"Storage is unavailable; try again shortly ({e.GetBaseException().Message})");
        }
    }
}
