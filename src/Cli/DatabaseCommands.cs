using System.Text.Json;
using Chat.Api.V1;
using Grpc.Core;

namespace Chat.Cli;

/// <summary>publish, delete, list, call, logs, sql: one request (or one stream) each.</summary>
internal static partial class DatabaseCommands
{
    private static readonly OptionSpec Key = new("idempotency-key", null, "key",
        "retry-safe: a call repeated with the same key is answered with the first one's result and not run again (default: a new key per run)");
    private static readonly OptionSpec Clear = new("clear", null, null, "empty the database first (owner only): every user and message is removed");
    internal static readonly OptionSpec Yes = new("yes", 'y', null, "do not ask for confirmation (needed when stdin is not a terminal)");
    // Each setting is sent only when given, so `chat publish db --unique-names true` changes that one and keeps the rest.
    private static readonly OptionSpec[] SettingOptions =
    [
        new("max-name-length", null, "N", "longest name, in characters (default 64)"),
        new("max-message-length", null, "N", "longest message, in characters (default 4096)"),
        new("unique-names", null, "true|false", "refuse a name that looks like one already taken (default false)"),
        new("require-name-to-send", null, "true|false", "refuse messages from users without a name (default false)"),
        new("messages-per-second", null, "R", "per-identity send_message and set_name rate; 0 turns every rate limit off (default 20)"),
        new("message-burst", null, "N", "per-identity burst (default 100)"),
        new("database-messages-per-second", null, "R", "the whole database's send_message ceiling; 0 turns it off (default 100)"),
        new("database-message-burst", null, "N", "the whole database's burst (default 500)"),
    ];
    private static readonly OptionSpec Lines = new("num-lines", 'n', "N", "only the most recent N records");
    private static readonly OptionSpec Follow = new("follow", 'f', null, "keep printing new records until Ctrl+C");
    private static readonly OptionSpec Level = new("level", null, "level", "only records at this level or above: trace, debug, info, warn, error, panic");

    public static readonly CommandSpec[] All =
    [
        new("publish", "<database>", "create a database with you as its owner (idempotent)",
            """
            Creates the database and makes you (your default identity) its owner, as `spacetime publish` does.
            Publishing again as the owner leaves it as it was; --clear empties it (after a yes at the prompt,
            or with --yes). Names are lowercase letters,
            digits and single dashes, at most 64 characters. The setting options change only the settings
            given; the others keep their current values (a new database starts with the defaults).

            Examples:
              chat publish quickstart
              chat publish quickstart --unique-names true --require-name-to-send true
            """, [Clear, Yes, .. SettingOptions], Publish, 1, 1),
        new("delete", "<database>", "delete a database and all its rows (owner only)",
            """
            Deletes the database with every user and message in it. Only its owner may. Asks first on a
            terminal; give --yes to skip the question (scripts must: without a terminal chat refuses).

            Examples:
              chat delete quickstart
              chat delete quickstart --yes
            """, [Yes], Delete, 1, 1),
        new("list", "", "list the databases on the gateway",
            """
            Lists every database on the gateway with its owner and creation time.

            Example:
              chat list
            """, [], List, 0, 0),
        new("call", "<database> <reducer> [arguments...]", "call a reducer: set_name, send_message",
            """
            Calls a reducer as your identity, as `spacetime call` does. The arguments are either one JSON array,
            or plain words, each sent as a string:

              chat call quickstart send_message '["Hello, World!"]'
              chat call quickstart send_message "Hello, World!"
              chat call quickstart set_name Alice

            A single argument is taken as JSON when it parses as a JSON array; to send such text as a
            message, wrap it: '["[1, 2]"]'. Put -- before an argument that starts with a dash.
            Prints nothing when the call commits; a reducer error is printed and the exit code is 1.

            Every call carries an idempotency key, so a call that fails with UNAVAILABLE is retried (up to 4
            attempts) without any risk of sending a message twice. To retry a whole command safely yourself, say
            from a script after a timeout, give it a key of your own and repeat it unchanged within 24 hours:

              chat call quickstart send_message "Hello" --idempotency-key 5f0c9c1e-hello
            """, [Key], Call, 2),
        new("logs", "<database>", "print a database's module log (owner only)",
            """
            Prints the database's module log, oldest first, as `spacetime logs` does:

              2026-01-13T12:00:00.000000Z  INFO: Hello, World!

            Examples:
              chat logs quickstart
              chat logs quickstart -n 20 --level warn
              chat logs quickstart -f --format json
            """, [Lines, Follow, Level], Logs, 1, 1),
        new("sql", "<database> [query]", "run read-only SQL over the tables User and Message; no query: a prompt",
            """
            Runs a query in SpacetimeDB's SQL subset over the tables User (identity, name, online) and
            Message (sender, sent, text, offset), and prints the result as `spacetime sql` does:
            strings quoted, identities as 0x + hex, timestamps in RFC 3339. `:sender` is your identity.

            Examples:
              chat sql quickstart "SELECT * FROM Message"
              chat sql quickstart "SELECT name, online FROM User WHERE identity = :sender"
              chat sql quickstart "SELECT * FROM Message ORDER BY offset DESC LIMIT 20" --format json

            Without a query, at a terminal, it opens a prompt: a statement may span lines and runs at its
            `;`; errors are printed and the prompt carries on. \s shows this session's statements, !N runs
            statement N again, \q (or Ctrl+D) quits. From a pipe it runs each statement it reads, in order,
            and exits 1 if any failed:

              chat sql quickstart
              echo "SELECT * FROM User; SELECT * FROM Message;" | chat sql quickstart --format json
            """, [], Sql, 1, 2),
    ];

    private static async Task<int> Publish(CliContext context, ParsedArguments args)
    {
        var database = args.Positionals[0];
        var clear = args.Has("clear");
        if (clear) await context.ConfirmAsync(args, $"Empty database {database}, removing every user and message?", $"chat publish {database} --clear");
        var response = await context.Databases.PublishAsync(new PublishRequest { Database = database, Clear = clear, Settings = SettingsGiven(args) },
            await context.AuthorizationAsync(), cancellationToken: context.Cancellation);
        var owner = Values.Identity(response.Database.OwnerIdentity);
        if (args.Json)
        {
            JsonOutput.Line(context.Out, w =>
            {
                w.WriteStartObject();
                w.WriteString("database", response.Database.Name);
                w.WriteString("owner", owner);
                w.WriteString("created_at", Values.SqlTimestamp(response.Database.CreatedAt));
                w.WriteBoolean("created", response.Created);
                w.WriteBoolean("cleared", clear && !response.Created);
                JsonOutput.Settings(w, response.Database.Settings);
                w.WriteEndObject();
            });
            return ExitCodes.Ok;
        }
        if (response.Created) context.Out.WriteLine($"Created database {response.Database.Name} (owner {owner}).");
        else if (clear) context.Out.WriteLine($"Cleared database {response.Database.Name} (owner {owner}).");
        else if (args.Options.Keys.Any(k => SettingOptions.Any(o => o.Name == k)))
            context.Out.WriteLine($"Database {response.Database.Name} already exists (owner {owner}); the settings given are applied, the others kept.");
        else context.Out.WriteLine($"Database {response.Database.Name} already exists (owner {owner}); left as it was.");
        return ExitCodes.Ok;
    }

    /// <summary>The settings the user gave, and only those (proto3 presence), or none at all.</summary>
    internal static DatabaseSettings? SettingsGiven(ParsedArguments args)
    {
        if (!SettingOptions.Any(o => args.Has(o.Name))) return null;
        var settings = new DatabaseSettings();
        if (args.UInt("max-name-length") is { } maxName) settings.MaxNameLength = maxName;
        if (args.UInt("max-message-length") is { } maxMessage) settings.MaxMessageLength = maxMessage;
        if (Bool(args, "unique-names") is { } unique) settings.UniqueNames = unique;
        if (Bool(args, "require-name-to-send") is { } requireName) settings.RequireNameToSend = requireName;
        if (Rate(args, "messages-per-second") is { } rate) settings.MessagesPerSecond = rate;
        if (args.UInt("message-burst") is { } burst) settings.MessageBurst = burst;
        if (Rate(args, "database-messages-per-second") is { } databaseRate) settings.DatabaseMessagesPerSecond = databaseRate;
        if (args.UInt("database-message-burst") is { } databaseBurst) settings.DatabaseMessageBurst = databaseBurst;
        return settings;
    }

    private static bool? Bool(ParsedArguments args, string option) =>
        args.Value(option) is null ? null : args.Choice(option, "", "true", "false") == "true";

    private static double? Rate(ParsedArguments args, string option)
    {
        if (args.Value(option) is not { } text) return null;
        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= 0 && double.IsFinite(value)
            ? value
            : throw new UsageException($"--{option} takes a number of messages per second (0 or more), not '{text}'");
    }

    private static async Task<int> Delete(CliContext context, ParsedArguments args)
    {
        var database = args.Positionals[0];
        await context.ConfirmAsync(args, $"Delete database {database} with every user and message in it?", $"chat delete {database}");
        await context.Databases.DeleteAsync(new DeleteRequest { Database = database }, await context.AuthorizationAsync(), cancellationToken: context.Cancellation);
        if (args.Json) JsonOutput.Line(context.Out, w => { w.WriteStartObject(); w.WriteString("database", database); w.WriteBoolean("deleted", true); w.WriteEndObject(); });
        else context.Out.WriteLine($"Deleted database {database}.");
        return ExitCodes.Ok;
    }

    private static async Task<int> List(CliContext context, ParsedArguments args)
    {
        var response = await context.Databases.ListAsync(new ListRequest(), await context.AuthorizationAsync(), cancellationToken: context.Cancellation);
        if (args.Json)
        {
            JsonOutput.Line(context.Out, w =>
            {
                w.WriteStartArray();
                foreach (var d in response.Databases.OrderBy(d => d.Name, StringComparer.Ordinal))
                {
                    w.WriteStartObject();
                    w.WriteString("name", d.Name);
                    w.WriteString("owner", Values.Identity(d.OwnerIdentity));
                    w.WriteString("created_at", Values.SqlTimestamp(d.CreatedAt));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
            return ExitCodes.Ok;
        }
        if (response.Databases.Count == 0)
        {
            context.Out.WriteLine("No databases yet; create one with: chat publish <database>");
            return ExitCodes.Ok;
        }
        Table.Write(context.Out, ["name", "owner", "created_at"],
            response.Databases.OrderBy(d => d.Name, StringComparer.Ordinal)
                .Select(d => (IReadOnlyList<string>)[d.Name, Values.Identity(d.OwnerIdentity), Values.SqlTimestamp(d.CreatedAt)]));
        return ExitCodes.Ok;
    }

    /// <summary>The reducer arguments as JSON: a single argument that is a JSON array is used as it is; otherwise each word is a string.</summary>
    internal static string ArgumentsJson(IReadOnlyList<string> words)
    {
        if (words.Count == 1 && words[0].TrimStart().StartsWith('['))
        {
            try
            {
                using var document = JsonDocument.Parse(words[0]);
                if (document.RootElement.ValueKind == JsonValueKind.Array) return words[0];
            }
            catch (JsonException)
            {
                // Not JSON after all: a message that starts with a bracket.
            }
        }
        return JsonOutput.Write(w =>
        {
            w.WriteStartArray();
            foreach (var word in words) w.WriteStringValue(word);
            w.WriteEndArray();
        });
    }

    private static async Task<int> Call(CliContext context, ParsedArguments args)
    {
        var (database, reducer) = (args.Positionals[0], args.Positionals[1]);
        var json = ArgumentsJson(args.Positionals.Skip(2).ToList());
        // The channel retries UNAVAILABLE with the same request, key included: a retry of a call that committed is answered, not run.
        var key = args.Value(Key.Name) ?? Guid.NewGuid().ToString("N");
        await CheckLengthAsync(context, database, reducer, json);
        await context.Chat.CallReducerAsync(new CallReducerRequest { Database = database, Reducer = reducer, ArgsJson = json, IdempotencyKey = key },
            await context.AuthorizationAsync(), cancellationToken: context.Cancellation);
        if (args.Json)
            JsonOutput.Line(context.Out, w =>
            {
                w.WriteStartObject();
                w.WriteString("database", database);
                w.WriteString("reducer", reducer);
                w.WriteString("status", "committed");
                w.WriteString("idempotency_key", key);
                w.WriteEndObject();
            });
        return ExitCodes.Ok;
    }

    /// <summary>The module's default limits (ModuleSettings): text within them needs no look at the database's own.</summary>
    private const int DefaultMaxMessageLength = 4096, DefaultMaxNameLength = 64;

    /// <summary>
    /// Refuses here, with the limit named, a message or name longer than the database takes, before it is sent: a text
    /// past the gateway's request size would otherwise come back as bare RESOURCE_EXHAUSTED. The database's limit is
    /// looked up (Describe) only for text longer than the defaults.
    /// </summary>
    private static async Task CheckLengthAsync(CliContext context, string database, string reducer, string json)
    {
        if (reducer is not ("send_message" or "set_name") || SingleString(json) is not { } text) return;
        var length = text.EnumerateRunes().Count();
        var isMessage = reducer == "send_message";
        if (length <= (isMessage ? DefaultMaxMessageLength : DefaultMaxNameLength)) return;
        DescribeResponse described;
        try
        {
            described = await context.Databases.DescribeAsync(new DescribeRequest { Database = database }, await context.AuthorizationAsync(), cancellationToken: context.Cancellation);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
        {
            return; // an older gateway: it checks the length itself
        }
        var settings = described.Database.Settings;
        var (limit, setting, what) = isMessage
            ? (settings.MaxMessageLength, "max-message-length", "Messages")
            : (settings.MaxNameLength, "max-name-length", "Names");
        if (length > limit)
            throw new CliException($"{what} in database {database} are at most {limit} characters, and this one has {length}; nothing was sent. " +
                                   $"Shorten it, or (as the owner) raise the limit: chat publish {database} --{setting} <N>");
    }

    private static string? SingleString(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            return root.ValueKind == JsonValueKind.Array && root.GetArrayLength() == 1 && root[0].ValueKind == JsonValueKind.String ? root[0].GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
