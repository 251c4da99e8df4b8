using System.Globalization;
using Npgsql;

namespace Chat.Sql;

/// <summary>Runs a <see cref="SqlQuery"/> against the chat tables of one database in PostgreSQL.</summary>
public static class PostgresSqlExecutor
{
    private const string QueryCanceled = "57014";

    /// <summary>
    /// Runs the query in a read-only transaction under a statement timeout, returning at most
    /// <see cref="SqlLimits.RowCap"/> rows (and <see cref="SqlResult.Truncated"/> when there were more).
    /// </summary>
    /// <exception cref="SqlQueryException">The query ran longer than <see cref="SqlLimits.StatementTimeout"/>.</exception>
    public static async Task<SqlResult> ExecuteAsync(
        NpgsqlDataSource source, long databaseId, SqlQuery query, Identity caller, SqlLimits limits, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.RowCap, nameof(limits));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(limits.StatementTimeout, TimeSpan.Zero, nameof(limits));

        // One row past the cap tells a result that fits from one that was cut.
        var statement = PostgresTranslator.Translate(query, databaseId, caller, (long)limits.RowCap + 1);
        // statement_timeout 0 would mean "no limit", so never round down to it.
        var timeoutMs = (long)Math.Max(1, Math.Ceiling(limits.StatementTimeout.TotalMilliseconds));

        await using var connection = await source.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        try
        {
            // Read only, so that even a translator bug could not write; the timeout is local to this transaction.
            await using (var setup = new NpgsqlBatch(connection, transaction))
            {
                setup.BatchCommands.Add(new NpgsqlBatchCommand("SET TRANSACTION READ ONLY"));
                var timeout = new NpgsqlBatchCommand("SELECT set_config('statement_timeout', $1, true)");
                timeout.Parameters.Add(new NpgsqlParameter { Value = timeoutMs.ToString(CultureInfo.InvariantCulture) });
                setup.BatchCommands.Add(timeout);
                await setup.ExecuteNonQueryAsync(ct);
            }

            if (limits.MaxCost > 0)
            {
                // PostgreSQL's own estimate, before any work: a join that would churn through millions of rows is refused
                // rather than left to hold a core until the statement timeout, while everyone else's queries wait for it.
                await using var explain = new NpgsqlCommand("EXPLAIN (FORMAT JSON) " + statement.Sql, connection, transaction);
                explain.Parameters.AddRange(statement.Parameters.Select(p => p.Clone()).ToArray());
                var cost = TotalCost((string)(await explain.ExecuteScalarAsync(ct))!);
                if (cost > limits.MaxCost)
                    throw new SqlQueryException(
                        $"This query would cost about {cost:N0} by PostgreSQL's estimate, above the limit of {limits.MaxCost:N0}. " +
                        "Narrow it with WHERE (on sender, offset or identity especially), join on fewer rows, or add LIMIT.");
            }

            await using var command = new NpgsqlCommand(statement.Sql, connection, transaction);
            command.Parameters.AddRange(statement.Parameters.ToArray());
            var rows = new List<object?[]>();
            var (truncated, cutBySize, bytes) = (false, false, 0L);
            await using (var reader = await command.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    if (rows.Count == limits.RowCap)
                    {
                        truncated = true;
                        break;
                    }
                    var row = ReadRow(reader, query.Columns);
                    bytes += SqlValueFormat.Size(row);
                    if (bytes > limits.MaxResultBytes)
                    {
                        (truncated, cutBySize) = (true, true);
                        break;
                    }
                    rows.Add(row);
                }
            }
            await transaction.RollbackAsync(ct);
            return new SqlResult(query.Columns, rows, truncated, cutBySize);
        }
        catch (PostgresException e) when (e.SqlState == QueryCanceled && !ct.IsCancellationRequested)
        {
            throw new SqlQueryException(
                $"The query took longer than {timeoutMs} ms and was cancelled; narrow it down with WHERE or LIMIT", e);
        }
    }

    private static double TotalCost(string plan)
    {
        using var document = System.Text.Json.JsonDocument.Parse(plan);
        return document.RootElement[0].GetProperty("Plan").GetProperty("Total Cost").GetDouble();
    }

    private static object?[] ReadRow(NpgsqlDataReader reader, IReadOnlyList<SqlColumn> columns)
    {
        var row = new object?[columns.Count];
        for (var i = 0; i < row.Length; i++)
        {
            if (reader.IsDBNull(i)) continue;
            row[i] = columns[i].Type switch
            {
                SqlType.Identity => Identity.FromBytes(reader.GetFieldValue<byte[]>(i)),
                SqlType.String => reader.GetString(i),
                SqlType.Bool => reader.GetBoolean(i),
                SqlType.Timestamp => DateTime.SpecifyKind(reader.GetDateTime(i), DateTimeKind.Utc),
                _ => (ulong)reader.GetInt64(i),
            };
        }
        return row;
    }
}
