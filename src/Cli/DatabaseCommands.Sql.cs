using System.Text.Json;
using Chat.Api.V1;

namespace Chat.Cli;

/// <summary><c>chat sql</c>: one query, or the prompt, printed as a table or JSON.</summary>
internal static partial class DatabaseCommands
{
    private static Task<int> Sql(CliContext context, ParsedArguments args) =>
        args.Positionals.Count == 1 ? SqlPrompt.RunAsync(context, args.Positionals[0], args.Json) : SqlOnceAsync(context, args);

    private static async Task<int> SqlOnceAsync(CliContext context, ParsedArguments args)
    {
        await QueryAsync(context, args.Positionals[0], args.Positionals[1], args.Json, indented: true);
        return ExitCodes.Ok;
    }

    /// <summary>Runs one query and prints its result: a table, or a JSON array (indented for one query, one line per query at the prompt).</summary>
    internal static async Task QueryAsync(CliContext context, string database, string query, bool json, bool indented)
    {
        var response = await context.Chat.SqlAsync(new SqlRequest { Database = database, Query = query },
            await context.AuthorizationAsync(), cancellationToken: context.Cancellation);
        var names = response.Columns.Select(c => c.Name).ToList();
        if (json)
        {
            var keys = UniqueKeys(names);
            context.Out.WriteLine(JsonOutput.Write(w =>
            {
                w.WriteStartArray();
                foreach (var row in response.Rows)
                {
                    w.WriteStartObject();
                    for (var i = 0; i < keys.Count; i++)
                    {
                        w.WritePropertyName(keys[i]);
                        if (i < row.Values.Count) JsonOutput.Value(w, row.Values[i]);
                        else w.WriteNullValue();
                    }
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }, indented));
        }
        else
        {
            Table.Write(context.Out, names, response.Rows.Select(r => (IReadOnlyList<string>)r.Values.Select(Values.Sql).ToList()));
        }
        if (response.Truncated)
            context.Err.WriteLine(string.IsNullOrEmpty(response.Notice) ? $"The result was truncated: only {response.Rows.Count} rows are shown." : response.Notice);
    }

    /// <summary>Column names as JSON keys: a name that repeats (a join's two <c>identity</c>s) gets <c>_2</c>, <c>_3</c>…</summary>
    private static List<string> UniqueKeys(List<string> names)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var keys = new List<string>();
        foreach (var name in names)
        {
            var count = seen[name] = seen.GetValueOrDefault(name) + 1;
            keys.Add(count == 1 ? name : $"{name}_{count}");
        }
        return keys;
    }
}
