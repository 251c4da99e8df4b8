using Chat.Api.V1;

namespace Chat.Cli;

/// <summary>chat identity new|list|show|set-default|remove: the identities (identity + token) saved per gateway.</summary>
internal static class IdentityCommands
{
    private static readonly OptionSpec Name = new("name", null, "nickname", "a nickname for the identity, to pick it with --identity");
    private static readonly OptionSpec MakeDefault = new("default", null, null, "make it the default identity for this gateway");
    private static readonly OptionSpec ShowToken = new("token", null, null, "print only the token (keep it secret: it is the identity)");

    public static readonly CommandSpec[] All =
    [
        new("identity new", "", "create an identity on the gateway and save it",
            """
            Asks the gateway for a new identity and its token (CreateIdentity) and saves both. It becomes the
            default for this gateway when there is none yet, or with --default.

            Examples:
              chat identity new
              chat identity new --name bob
            """, [Name, MakeDefault], New, 0, 0),
        new("identity list", "", "list the identities saved for the gateway",
            """
            Lists the identities saved for the gateway (--server, else the default one); * marks the default.

            Example:
              chat identity list
            """, [], List, 0, 0),
        new("identity show", "[identity]", "show an identity (the default one unless named)",
            """
            Shows a saved identity: the default one, or the one named by nickname or by a prefix of its hex.

            Examples:
              chat identity show
              chat identity show bob --token
            """, [ShowToken], Show, 0, 1),
        new("identity set-default", "<identity>", "make a saved identity the default for the gateway",
            """
            Makes a saved identity (nickname or a prefix of its hex) the one commands use on this gateway.

            Example:
              chat identity set-default bob
            """, [], SetDefault, 1, 1),
        new("identity remove", "<identity>", "forget a saved identity (its token is lost for good)",
            """
            Removes a saved identity and its token from this machine. Without the token nobody can act as
            that identity again. When it was the default, the oldest remaining identity becomes the default.

            Example:
              chat identity remove bob
            """, [], Remove, 1, 1),
    ];

    private static async Task<int> New(CliContext context, ParsedArguments args)
    {
        var server = context.Server;
        var nickname = args.Value("name");
        if (nickname is not null) ValidateNickname(nickname);
        var created = await context.Chat.CreateIdentityAsync(new CreateIdentityRequest(), cancellationToken: context.Cancellation);
        var entry = context.Config.Update(c =>
        {
            if (nickname is not null && c.IdentitiesOf(server).Any(i => i.Nickname == nickname))
                throw new CliException($"an identity called '{nickname}' is already saved for {server}");
            var entry = new IdentityEntry { Server = server, Identity = created.Identity, Token = created.Token, Nickname = nickname, Created = DateTimeOffset.UtcNow };
            var makeDefault = args.Has("default") || !c.IdentitiesOf(server).Any(i => i.Default);
            if (makeDefault)
                foreach (var other in c.IdentitiesOf(server)) other.Default = false;
            entry.Default = makeDefault;
            c.Identities.Add(entry);
            return entry;
        });
        if (args.Json) JsonOutput.Line(context.Out, w => Entry(w, entry, token: false));
        else context.Out.WriteLine($"Created identity {entry.Identity}{(nickname is null ? "" : $" ({nickname})")} on {server}{(entry.Default ? "; it is the default" : "")}.");
        return ExitCodes.Ok;
    }

    private static Task<int> List(CliContext context, ParsedArguments args)
    {
        var server = context.Server;
        var mine = context.Config.Load().IdentitiesOf(server).ToList();
        if (args.Json)
        {
            JsonOutput.Line(context.Out, w =>
            {
                w.WriteStartArray();
                foreach (var entry in mine) Entry(w, entry, token: false);
                w.WriteEndArray();
            });
            return Task.FromResult(ExitCodes.Ok);
        }
        if (mine.Count == 0)
        {
            context.Out.WriteLine($"No identities saved for {server}; the first command that needs one creates it (or: chat identity new).");
            return Task.FromResult(ExitCodes.Ok);
        }
        Table.Write(context.Out, ["default", "identity", "nickname"],
            mine.Select(i => (IReadOnlyList<string>)[i.Default ? "*" : "", i.Identity, i.Nickname ?? ""]));
        return Task.FromResult(ExitCodes.Ok);
    }

    private static Task<int> Show(CliContext context, ParsedArguments args)
    {
        var server = context.Server;
        var config = context.Config.Load();
        var entry = args.Positionals.Count == 1 ? config.FindIdentity(server, args.Positionals[0])
            : args.Value("identity") is { } selector ? config.FindIdentity(server, selector)
            : config.IdentitiesOf(server).FirstOrDefault(i => i.Default)
              ?? throw new CliException($"no default identity for {server} yet; the first command that needs one creates it (or: chat identity new)");
        if (args.Json)
        {
            JsonOutput.Line(context.Out, w => Entry(w, entry, token: args.Has("token")));
            return Task.FromResult(ExitCodes.Ok);
        }
        if (args.Has("token"))
        {
            context.Out.WriteLine(entry.Token);
            return Task.FromResult(ExitCodes.Ok);
        }
        context.Out.WriteLine($"identity  {entry.Identity}");
        if (entry.Nickname is not null) context.Out.WriteLine($"nickname  {entry.Nickname}");
        context.Out.WriteLine($"server    {entry.Server}");
        context.Out.WriteLine($"default   {(entry.Default ? "yes" : "no")}");
        context.Out.WriteLine($"created   {entry.Created.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}");
        return Task.FromResult(ExitCodes.Ok);
    }

    private static Task<int> SetDefault(CliContext context, ParsedArguments args)
    {
        var server = context.Server;
        var entry = context.Config.Update(c =>
        {
            var chosen = c.FindIdentity(server, args.Positionals[0]);
            foreach (var other in c.IdentitiesOf(server)) other.Default = other == chosen;
            return chosen;
        });
        if (args.Json) JsonOutput.Line(context.Out, w => Entry(w, entry, token: false));
        else context.Out.WriteLine($"The default identity for {server} is now {entry.Identity}.");
        return Task.FromResult(ExitCodes.Ok);
    }

    private static Task<int> Remove(CliContext context, ParsedArguments args)
    {
        var server = context.Server;
        var (removed, promoted) = context.Config.Update(c =>
        {
            var gone = c.FindIdentity(server, args.Positionals[0]);
            c.Identities.Remove(gone);
            IdentityEntry? next = null;
            if (gone.Default && c.IdentitiesOf(server).OrderBy(i => i.Created).FirstOrDefault() is { } oldest)
                (oldest.Default, next) = (true, oldest);
            return (gone, next);
        });
        if (args.Json)
        {
            JsonOutput.Line(context.Out, w =>
            {
                w.WriteStartObject();
                w.WriteString("removed", removed.Identity);
                w.WriteString("server", server);
                JsonOutput.NullableString(w, "default", promoted?.Identity);
                w.WriteEndObject();
            });
            return Task.FromResult(ExitCodes.Ok);
        }
        context.Out.WriteLine($"Removed identity {removed.Identity}.");
        if (promoted is not null) context.Out.WriteLine($"The default identity for {server} is now {promoted.Identity}.");
        return Task.FromResult(ExitCodes.Ok);
    }

    /// <summary>A saved identity as JSON; the token only when asked for (it is the identity).</summary>
    private static void Entry(System.Text.Json.Utf8JsonWriter w, IdentityEntry entry, bool token)
    {
        w.WriteStartObject();
        w.WriteString("identity", entry.Identity);
        JsonOutput.NullableString(w, "nickname", entry.Nickname);
        w.WriteString("server", entry.Server);
        w.WriteBoolean("default", entry.Default);
        w.WriteString("created", entry.Created.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
        if (token) w.WriteString("token", entry.Token);
        w.WriteEndObject();
    }

    internal static void ValidateNickname(string nickname)
    {
        if (nickname.Length == 0 || nickname.Length > 64 || nickname.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new UsageException($"'{nickname}' is not a nickname: 1 to 64 characters, no spaces");
    }
}
