using System.Globalization;
using Chat.Api.V1;

namespace Chat.Cli;

/// <summary>chat describe: a database's tables, reducers and settings, from the gateway's own lists (Databases.Describe).</summary>
internal static class DescribeCommand
{
    public static readonly CommandSpec[] All =
    [
        new("describe", "<database>", "show a database's tables, reducers and settings",
            """
            Shows what a database is made of, as `spacetime describe` does for a module: its tables (columns,
            types, primary keys), its reducers (parameters, and who may call them: the lifecycle reducers
            identity_connected and identity_disconnected are run by the server, never by clients), and its
            settings (the limits its reducers check, the rate limits).

            Examples:
              chat describe quickstart
              chat describe quickstart --format json
            """, [], Describe, 1, 1),
    ];

    private static async Task<int> Describe(CliContext context, ParsedArguments args)
    {
        var response = await context.Databases.DescribeAsync(new DescribeRequest { Database = args.Positionals[0] },
            await context.AuthorizationAsync(), cancellationToken: context.Cancellation);
        if (args.Json) JsonOutput.Line(context.Out, w => Json(w, response));
        else Text(context.Out, response);
        return ExitCodes.Ok;
    }

    /// <summary>A column type as SpacetimeDB's module definitions spell it.</summary>
    internal static string TypeName(SqlType type) => type switch
    {
        SqlType.Identity => "Identity",
        SqlType.String => "String",
        SqlType.Bool => "bool",
        SqlType.Timestamp => "Timestamp",
        SqlType.U64 => "u64",
        _ => "unknown",
    };

    private static string Parameters(ReducerDescription reducer) =>
        string.Join(", ", reducer.Parameters.Select(p => $"{p.Name}: {p.Type}"));

    private static void Text(TextWriter output, DescribeResponse response)
    {
        var database = response.Database;
        output.WriteLine($"Database {database.Name} (owner {Values.Identity(database.OwnerIdentity)}, created {Values.SqlTimestamp(database.CreatedAt)})");
        output.WriteLine();
        output.WriteLine("Tables:");
        Table.Write(output, ["table", "column", "type", "nullable", "key"],
            response.Tables.SelectMany(t => t.Columns.Select(c => (IReadOnlyList<string>)
                [t.Name, c.Name, TypeName(c.Type), c.Nullable ? "yes" : "no", c.Name == t.PrimaryKey ? "primary key" : ""])));
        output.WriteLine();
        output.WriteLine("Reducers:");
        Table.Write(output, ["reducer", "parameters", "called by"],
            response.Reducers.Select(r => (IReadOnlyList<string>)
                [r.Name, Parameters(r), r.ClientCallable ? r.CalledBy : $"{r.CalledBy} (server only: clients cannot call it)"]));
        output.WriteLine();
        output.WriteLine("Settings:");
        Table.Write(output, ["setting", "value"], Settings(database.Settings).Select(s => (IReadOnlyList<string>)[s.Name, s.Value]));
    }

    internal static IEnumerable<(string Name, string Value)> Settings(DatabaseSettings? settings)
    {
        if (settings is null) yield break;
        static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);
        if (settings.HasMaxNameLength) yield return ("max_name_length", Number(settings.MaxNameLength));
        if (settings.HasMaxMessageLength) yield return ("max_message_length", Number(settings.MaxMessageLength));
        if (settings.HasUniqueNames) yield return ("unique_names", settings.UniqueNames ? "true" : "false");
        if (settings.HasRequireNameToSend) yield return ("require_name_to_send", settings.RequireNameToSend ? "true" : "false");
        if (settings.HasMessagesPerSecond) yield return ("messages_per_second", Number(settings.MessagesPerSecond));
        if (settings.HasMessageBurst) yield return ("message_burst", Number(settings.MessageBurst));
        if (settings.HasDatabaseMessagesPerSecond) yield return ("database_messages_per_second", Number(settings.DatabaseMessagesPerSecond));
        if (settings.HasDatabaseMessageBurst) yield return ("database_message_burst", Number(settings.DatabaseMessageBurst));
    }

    private static void Json(System.Text.Json.Utf8JsonWriter w, DescribeResponse response)
    {
        w.WriteStartObject();
        w.WriteString("database", response.Database.Name);
        w.WriteString("owner", Values.Identity(response.Database.OwnerIdentity));
        w.WriteString("created_at", Values.SqlTimestamp(response.Database.CreatedAt));
        w.WriteStartArray("tables");
        foreach (var table in response.Tables)
        {
            w.WriteStartObject();
            w.WriteString("name", table.Name);
            w.WriteString("primary_key", table.PrimaryKey);
            w.WriteStartArray("columns");
            foreach (var column in table.Columns)
            {
                w.WriteStartObject();
                w.WriteString("name", column.Name);
                w.WriteString("type", TypeName(column.Type));
                w.WriteBoolean("nullable", column.Nullable);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("reducers");
        foreach (var reducer in response.Reducers)
        {
            w.WriteStartObject();
            w.WriteString("name", reducer.Name);
            w.WriteStartArray("parameters");
            foreach (var parameter in reducer.Parameters)
            {
                w.WriteStartObject();
                w.WriteString("name", parameter.Name);
                w.WriteString("type", parameter.Type);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteBoolean("client_callable", reducer.ClientCallable);
            w.WriteString("called_by", reducer.CalledBy);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        JsonOutput.Settings(w, response.Database.Settings);
        w.WriteEndObject();
    }
}
