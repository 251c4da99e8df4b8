namespace Chat.Cli;

/// <summary>chat server add|list|set-default|remove: the gateways the tool knows by nickname.</summary>
internal static class ServerCommands
{
    private static readonly OptionSpec Name = new("name", null, "nickname", "the server's nickname (default: its host:port)");
    private static readonly OptionSpec MakeDefault = new("default", null, null, "make it the default server");

    public static readonly CommandSpec[] All =
    [
        new("server add", "<address>", "save a gateway address under a nickname",
            """
            Saves a gateway address (http://host:port, or host:port) under a nickname, so that --server can
            name it and set-default can make it the default. Identities are saved per server.

            Examples:
              chat server add http://10.0.0.5:50051 --name staging
              chat server add 127.0.0.1:50061 --name standalone --default
            """, [Name, MakeDefault], Add, 1, 1),
        new("server list", "", "list the saved gateways",
            """
            Lists the saved gateways; * marks the default. `local` is the local stack's gateway.

            Example:
              chat server list
            """, [], List, 0, 0),
        new("server set-default", "<server>", "make a saved gateway the default",
            """
            Makes a saved gateway (nickname or address) the default for every command. $CHAT_SERVER and
            --server still override it.

            Example:
              chat server set-default staging
            """, [], SetDefault, 1, 1),
        new("server remove", "<server>", "forget a saved gateway and its identities",
            """
            Removes a saved gateway, and the identities saved for it.

            Example:
              chat server remove staging
            """, [], Remove, 1, 1),
    ];

    private static Task<int> Add(CliContext context, ParsedArguments args)
    {
        var address = ServerAddress.Normalize(args.Positionals[0]);
        var nickname = args.Value("name") ?? new Uri(address).Authority;
        IdentityCommands.ValidateNickname(nickname);
        var isDefault = context.Config.Update(c =>
        {
            if (c.Servers.FirstOrDefault(s => s.Nickname == nickname) is { } taken)
                throw new CliException($"a server called '{nickname}' is already saved ({taken.Address})");
            if (c.Servers.FirstOrDefault(s => s.Address == address) is { } same)
                throw new CliException($"{address} is already saved as '{same.Nickname}'");
            c.Servers.Add(new ServerEntry { Nickname = nickname, Address = address });
            if (args.Has("default") || c.DefaultServer is null) c.DefaultServer = nickname;
            return c.DefaultServer == nickname;
        });
        if (args.Json) JsonOutput.Line(context.Out, w => Entry(w, nickname, address, isDefault, null));
        else context.Out.WriteLine($"Saved server {nickname} ({address}){(isDefault ? "; it is the default" : "")}.");
        return Task.FromResult(ExitCodes.Ok);
    }

    private static Task<int> List(CliContext context, ParsedArguments args)
    {
        var config = context.Config.Load();
        if (args.Json)
        {
            JsonOutput.Line(context.Out, w =>
            {
                w.WriteStartArray();
                foreach (var s in config.Servers) Entry(w, s.Nickname, s.Address, s.Nickname == config.DefaultServer, config.IdentitiesOf(s.Address).Count());
                w.WriteEndArray();
            });
            return Task.FromResult(ExitCodes.Ok);
        }
        Table.Write(context.Out, ["default", "nickname", "address", "identities"],
            config.Servers.Select(s => (IReadOnlyList<string>)[s.Nickname == config.DefaultServer ? "*" : "", s.Nickname, s.Address,
                config.IdentitiesOf(s.Address).Count().ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        return Task.FromResult(ExitCodes.Ok);
    }

    private static Task<int> SetDefault(CliContext context, ParsedArguments args)
    {
        var server = context.Config.Update(c =>
        {
            var chosen = c.FindServer(args.Positionals[0])
                ?? throw new CliException($"no saved server '{args.Positionals[0]}' (see: chat server list; add one with: chat server add <address>)");
            c.DefaultServer = chosen.Nickname;
            return chosen;
        });
        if (args.Json) JsonOutput.Line(context.Out, w => Entry(w, server.Nickname, server.Address, true, null));
        else context.Out.WriteLine($"The default server is now {server.Nickname} ({server.Address}).");
        return Task.FromResult(ExitCodes.Ok);
    }

    private static Task<int> Remove(CliContext context, ParsedArguments args)
    {
        var (server, identities) = context.Config.Update(c =>
        {
            var chosen = c.FindServer(args.Positionals[0])
                ?? throw new CliException($"no saved server '{args.Positionals[0]}' (see: chat server list)");
            c.Servers.Remove(chosen);
            var dropped = c.Identities.RemoveAll(i => i.Server == chosen.Address);
            if (c.DefaultServer == chosen.Nickname) c.DefaultServer = null;
            return (chosen, dropped);
        });
        if (args.Json)
        {
            JsonOutput.Line(context.Out, w =>
            {
                w.WriteStartObject();
                w.WriteString("removed", server.Nickname);
                w.WriteString("address", server.Address);
                w.WriteNumber("identities_removed", identities);
                w.WriteEndObject();
            });
            return Task.FromResult(ExitCodes.Ok);
        }
        context.Out.WriteLine($"Removed server {server.Nickname} ({server.Address}){(identities > 0 ? $" and its {identities} saved identities" : "")}.");
        return Task.FromResult(ExitCodes.Ok);
    }

    private static void Entry(System.Text.Json.Utf8JsonWriter w, string nickname, string address, bool isDefault, int? identities)
    {
        w.WriteStartObject();
        w.WriteString("nickname", nickname);
        w.WriteString("address", address);
        w.WriteBoolean("default", isDefault);
        if (identities is { } count) w.WriteNumber("identities", count);
        w.WriteEndObject();
    }
}
