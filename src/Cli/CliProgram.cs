using System.Net.Sockets;
using System.Reflection;
using System.CommandLine;
using Grpc.Core;

namespace Chat.Cli;

/// <summary>A command: how it is called, what it does, its options, and the code that runs it.</summary>
internal sealed record CommandSpec(string Name, string Arguments, string Summary, string Description, OptionSpec[] Options,
    Func<CliContext, ParsedArguments, Task<int>> Run, int MinPositionals = 0, int? MaxPositionals = null);

/// <summary>
/// The <c>chat</c> tool. <see cref="RunAsync(string[], TextReader, TextWriter, TextWriter, string)"/> is the whole
/// program with its streams and configuration folder passed in, so tests run it in-process.
/// </summary>
public static class CliProgram
{
    public const string DefaultServer = ConfigData.LocalAddress;

    internal static readonly CommandSpec[] Commands =
    [
        .. DatabaseCommands.All,
        .. DescribeCommand.All,
        .. LiveCommands.All,
        .. IdentityCommands.All,
        .. ServerCommands.All,
        .. Completion.All,
    ];

    /// <summary>What to do next, for the errors a newcomer meets first; the gateway's text stays as SpacetimeDB words it.</summary>
    private static string Hint(RpcException e, string detail, bool haveContext) => e.StatusCode switch
    {
        StatusCode.Unauthenticated when haveContext => " (the gateway refused the saved token; make a new identity with: chat identity new --default)",
        StatusCode.NotFound when detail.StartsWith("Database '", StringComparison.Ordinal) =>
            " (chat list shows the databases; chat publish <name> creates one)",
        StatusCode.ResourceExhausted when detail.StartsWith("Received message exceeds the maximum configured message size", StringComparison.Ordinal) =>
            " (the request is larger than the gateway takes: 64 KiB unless its Chat__Gateway__MaxRequestBytes says otherwise; a database's messages are limited further by its max_message_length, see: chat describe <database>)",
        StatusCode.FailedPrecondition when detail == "Cannot set name for unknown user" =>
            " (this identity has never connected to the database: users exist from their first connection, so run chat client <database> once, and set the name there with /name)",
        _ => "",
    };

    public static Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, string configDirectory) =>
        RunAsync(args, stdin, stdout, stderr, configDirectory, new CliRunOptions());

    public static async Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, string configDirectory, CliRunOptions options)
    {
        // Live commands write from more than one task.
        stdout = TextWriter.Synchronized(stdout);
        stderr = TextWriter.Synchronized(stderr);
        var store = new ConfigStore(configDirectory);
        CliContext? context = null;
        try
        {
            if (IsVersionRequest(args))
            {
                stdout.WriteLine($"chat {Version}");
                return ExitCodes.Ok;
            }
            if (Completion.IsRequest(args)) return Completion.Suggest(Tree, args, stdout);
            var parse = Tree.Parse(args);
            var (command, parsed) = Resolve(parse, stdout);
            if (command is null) return ExitCodes.Ok;
            if (parsed.Has("help"))
            {
                stdout.Write(HelpFor(command));
                return ExitCodes.Ok;
            }
            if (parsed.Positionals.Count < command.MinPositionals || parsed.Positionals.Count > (command.MaxPositionals ?? int.MaxValue))
                throw new UsageException($"usage: chat {command.Name} {command.Arguments} (see: chat {command.Name} --help)");
            if (parsed.Json && command.Name == "client")
                throw new UsageException("chat client is interactive and prints text; for JSON use chat subscribe <database> \"SELECT * FROM Message\" (JSON lines), or chat sql --format json");
            context = new CliContext(stdin, stdout, stderr, store, options, parsed);
            return await command.Run(context, parsed);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (CliException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (RpcException e) when (Unreachable(e) is { } reason)
        {
            var server = context?.ServerOrDefault ?? DefaultServer;
            var hint = ServerAddress.IsLoopback(server)
                ? "Start the stack with: dotnet run --project src/Silo"
                : "Check the address (chat server list) or pass --server";
            stderr.WriteLine($"cannot reach the chat gateway at {server}: {reason}. {hint}");
            return ExitCodes.Unreachable;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && options.Cancellation.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }
        catch (RpcException e)
        {
            stderr.WriteLine(ErrorLine(e, context is not null));
            return ExitCodes.Failed;
        }
        catch (OperationCanceledException) when (options.Cancellation.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HttpRequestException or InvalidOperationException)
        {
            stderr.WriteLine($"error: {e.Message}");
            return ExitCodes.Failed;
        }
        finally
        {
            context?.Dispose();
        }
    }

    /// <summary>A refused request as one line: the status, the gateway's words, and what to do next when known.</summary>
    internal static string ErrorLine(RpcException e, bool haveContext)
    {
        var detail = string.IsNullOrEmpty(e.Status.Detail) ? e.StatusCode.ToString() : e.Status.Detail;
        return $"error: {e.StatusCode}: {detail}{Hint(e, detail, haveContext)}";
    }

    /// <summary>Why a call could not reach the gateway at all, or null when the gateway answered.</summary>
    internal static string? Unreachable(RpcException e)
    {
        if (e.StatusCode != StatusCode.Unavailable && e.StatusCode != StatusCode.Internal) return null;
        Exception? cause = e.Status.DebugException;
        if (cause is null) return null;
        var chain = new List<Exception>();
        for (var c = cause; c is not null; c = c.InnerException) chain.Add(c);
        if (!chain.Any(c => c is HttpRequestException or SocketException or TimeoutException or TaskCanceledException)) return null;
        var socket = chain.OfType<SocketException>().FirstOrDefault();
        var reason = socket?.Message ?? chain[^1].Message;
        return reason.TrimEnd('.');
    }

    internal static CommandTree Tree { get; } = new(Commands);

    /// <summary>
    /// The command a parse names and its arguments; null when help was asked for and written. A parse error becomes one
    /// usage line that says what to do, with the closest verb or option when the word looks like a typo.
    /// </summary>
    private static (CommandSpec? Command, ParsedArguments Arguments) Resolve(ParseResult parse, TextWriter stdout)
    {
        var commandName = CommandTree.NameOf(parse);
        var symbol = parse.CommandResult.Command;
        var spec = Tree.SpecOf(symbol);
        var asksHelp = parse.GetResult(Tree.Root.Options.First(o => o.Name == "--help")) is { Implicit: false }
            || symbol.Options.Any(o => o.Name == "--help" && parse.GetResult(o) is { Implicit: false });
        // A group or the root alone is a request for its help, not the library's "Required command was not provided".
        if (parse.Errors.Count > 0 && !(spec is null && parse.UnmatchedTokens.Count == 0 && symbol.Subcommands.Count > 0))
        {
            var unmatched = parse.UnmatchedTokens.Count > 0 ? parse.UnmatchedTokens[0] : null;
            if (unmatched is not null && spec is null && !ParsedArguments.LooksLikeOption(unmatched))
            {
                var verbs = symbol.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
                var where = commandName.Length == 0 ? "" : $"chat {commandName} has no command '{unmatched}'; it has: {string.Join(", ", verbs)}";
                var near = CommandTree.Closest(unmatched, verbs) is { } closest ? $"did you mean: chat {(commandName + " " + closest).Trim()}? " : "";
                throw new UsageException(where.Length > 0 ? $"{where} ({near}see: chat {commandName} --help)" : $"unknown command '{unmatched}'; {near}see: chat --help");
            }
            if (unmatched is not null && ParsedArguments.LooksLikeOption(unmatched)) throw UnknownOption(unmatched, symbol, commandName);
            throw new UsageException($"{parse.Errors[0].Message} (see: chat {commandName} --help)".Replace("chat  --help", "chat --help", StringComparison.Ordinal));
        }
        if (CommandTree.UnknownOption(parse) is { } unknown && !asksHelp) throw UnknownOption(unknown, symbol, commandName);
        if (symbol == Tree.Help)
        {
            var topic = Tree.Arguments(parse).Positionals.Where(a => !ParsedArguments.LooksLikeOption(a)).ToList();
            Help(stdout, topic);
            return (null, new ParsedArguments());
        }
        if (spec is null)
        {
            // The root or a group (identity, server): their help, unless words were given that name nothing.
            if (symbol is RootCommand && parse.Tokens.Count > 0 && !asksHelp) throw new UsageException("give a command; see: chat --help");
            Help(stdout, commandName.Length == 0 ? [] : [commandName]);
            return (null, new ParsedArguments());
        }
        return (spec, Tree.Arguments(parse));
    }

    private static UsageException UnknownOption(string token, Command command, string commandName)
    {
        var name = token.Split('=')[0];
        var options = command.Options.Concat(Tree.Root.Options).SelectMany(o => o.Aliases.Prepend(o.Name)).Distinct().ToList();
        var near = name.StartsWith("--", StringComparison.Ordinal) && CommandTree.Closest(name, options.Where(o => o.StartsWith("--", StringComparison.Ordinal))) is { } closest
            ? $"did you mean {closest}? " : "";
        var what = commandName.Length == 0 ? "chat" : $"chat {commandName}";
        return new UsageException($"{what} has no option {name} ({near}see: {what} --help; put -- before arguments that start with a dash)");
    }

    private static int Help(TextWriter stdout, List<string> topic)
    {
        var name = string.Join(' ', topic);
        if (name.Length == 0)
        {
            stdout.Write(Overview());
            return ExitCodes.Ok;
        }
        if (Commands.FirstOrDefault(c => c.Name == name) is { } command)
        {
            stdout.Write(HelpFor(command));
            return ExitCodes.Ok;
        }
        var group = Commands.Where(c => c.Name.StartsWith(name + " ", StringComparison.Ordinal)).ToList();
        if (group.Count == 0) throw new UsageException($"unknown command '{name}'; see: chat --help");
        var text = new System.Text.StringBuilder($"Usage: chat {name} <command> [options]\n\nCommands:\n");
        foreach (var c in group) text.Append($"  {c.Name[(name.Length + 1)..],-14}{c.Summary}\n");
        text.Append($"\nSee: chat {name} <command> --help\n");
        stdout.Write(text.ToString());
        return ExitCodes.Ok;
    }

    internal static string Overview()
    {
        var text = new System.Text.StringBuilder();
        text.Append("chat: the command line of Chat on Orleans (SpacetimeDB's quickstart chat on Orleans + PostgreSQL),\n");
        text.Append("talking to its gRPC gateway.\n\nUsage: chat <command> [arguments] [options]\n\nCommands:\n");
        foreach (var c in Commands) text.Append($"  {c.Name,-22}{c.Summary}\n");
        text.Append("\nGlobal options:\n");
        foreach (var o in Arguments.Global) text.Append($"  {o.Synopsis,-24}{o.Help}\n");
        text.Append("      --version           print the version\n");
        text.Append($"\nThe default gateway is the local stack's, {DefaultServer} (start it with: dotnet run --project src/Silo).\n");
        text.Append("Identities and servers are saved in $XDG_CONFIG_HOME/chat/config.json (else ~/.config/chat/config.json).\n");
        text.Append("Exit codes: 0 ok, 1 the request failed, 2 the gateway cannot be reached, 64 the command line is wrong.\n");
        text.Append("\nSee: chat <command> --help\n");
        return text.ToString();
    }

    internal static string HelpFor(CommandSpec command)
    {
        var text = new System.Text.StringBuilder();
        text.Append($"Usage: chat {command.Name} {command.Arguments}".TrimEnd()).Append(" [options]\n\n");
        text.Append(command.Description.TrimEnd()).Append("\n\nOptions:\n");
        var options = command.Options.Concat(Arguments.Global).ToList();
        var width = options.Max(o => o.Synopsis.Length) + 2;
        foreach (var o in options) text.Append("  ").Append(o.Synopsis.PadRight(width)).Append(o.Help).Append('\n');
        return text.ToString();
    }

    internal static string Version =>
        typeof(CliProgram).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>Version requests are answered before anything else.</summary>
    internal static bool IsVersionRequest(string[] args) => Arguments.FindWord(args) < 0 && args.Any(a => a is "--version" or "-V");
}
