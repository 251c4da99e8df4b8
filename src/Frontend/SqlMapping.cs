using Chat.Api.V1;
using Google.Protobuf.WellKnownTypes;

namespace Chat.Frontend;

/// <summary>SQL results as typed protobuf rows, so that clients print them or turn them into JSON without guessing.</summary>
public static class SqlMapping
{
    public static SqlResponse ToResponse(SqlResult result)
    {
        var response = new SqlResponse { Truncated = result.Truncated };
        if (Notice(result) is { } notice) response.Notice = notice;
        foreach (var column in result.Columns)
            response.Columns.Add(new Api.V1.SqlColumn { Name = column.Name, Type = (Api.V1.SqlType)((int)column.Type + 1) });
        foreach (var row in result.Rows)
        {
            var values = new SqlRow();
            foreach (var value in row) values.Values.Add(ToValue(value));
            response.Rows.Add(values);
        }
        return response;
    }

    /// <summary>What a cut result says about the rows left out; null when none were.</summary>
    public static string? Notice(SqlResult result) => !result.Truncated ? null
        : result.CutBySize
            ? $"Only the first {result.Rows.Count} rows are shown: the result is larger than the size limit for one answer. Select fewer columns, or add LIMIT/OFFSET or a narrower WHERE."
            : $"Only the first {result.Rows.Count} rows are shown: the query matched more than the row cap. Add LIMIT/OFFSET or a narrower WHERE.";

    private static SqlValue ToValue(object? value) => value switch
    {
        null => new SqlValue { Null = true },
        Identity identity => new SqlValue { Identity = "0x" + identity },
        string text => new SqlValue { String = text },
        bool flag => new SqlValue { Bool = flag },
        DateTime time => new SqlValue { Timestamp = Timestamp.FromDateTime(DateTime.SpecifyKind(time, DateTimeKind.Utc)) },
        ulong number => new SqlValue { U64 = number },
        _ => throw new InvalidOperationException($"A SQL value of type {value.GetType().Name} has no protobuf form."),
    };
}
