using System.Net.Sockets;
using System.Reflection;
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
        .. LiveCommands.All,
        .. IdentityCommands.All,
        .. ServerCommands.All,
    ];

    /// <summary>What to do next, for the errors a newcomer meets first; the gateway's text stays as SpacetimeDB words it.</summary>
    private static string Hint(RpcException e, string detail, bool haveContext) => e.StatusCode switch
    {
        StatusCode.Unauthenticated when haveContext => " (the gateway refused the saved token; make a new identity with: chat identity new --default)",
        StatusCode.NotFound when detail.StartsWith("Database '", StringComparison.Ordinal) =>
            " (chat list shows the databases; chat publish <name> creates one)",
        StatusCode.FailedPrecondition when detail == "Cannot set name for unknown user" =>
            " (this identity has never connected to the database: users exist from their first connection, so run chat client <database> once, and set the name there with /name)",
        _ => "",
    };

    private static readonly string[] Groups = ["identity", "server"];

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
            var (command, rest) = Find(args);
            if (command is null) return Help(stdout, rest);
            var parsed = Arguments.Parse(rest, command.Options, command.Name);
            if (parsed.Has("help"))
            {
                stdout.Write(HelpFor(command));
                return ExitCodes.Ok;
            }
            if (parsed.Positionals.Count < command.MinPositionals || parsed.Positionals.Count > (command.MaxPositionals ?? int.MaxValue))
                throw new UsageException($"usage: chat {command.Name} {command.Arguments} (see: chat {command.Name} --help)");
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
            var detail = string.IsNullOrEmpty(e.Status.Detail) ? e.StatusCode.ToString() : e.Status.Detail;
            var hint = Hint(e, detail, context is not null);
            stderr.WriteLine($"error: {e.StatusCode}: {detail}{hint}");
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

    /// <summary>The command the words name, and the words left for it; null command: help was asked for (or nothing).</summary>
    private static (CommandSpec? Command, List<string> Remaining) Find(string[] args)
    {
        var rest = args.ToList();
        var at = Arguments.FindWord(rest);
        if (at < 0)
        {
            if (rest.Count == 0 || rest.Any(a => a is "--help" or "-h")) return (null, []);
            throw new UsageException($"give a command; see: chat --help");
        }
        var word = rest[at];
        rest.RemoveAt(at);
        if (word == "help") return (null, rest.Where(a => !Arguments.IsOption(a)).ToList());
        if (Groups.Contains(word))
        {
            var sub = Arguments.FindWord(rest);
            if (sub < 0) return (null, [word]);
            var name = $"{word} {rest[sub]}";
            rest.RemoveAt(sub);
            return (Commands.FirstOrDefault(c => c.Name == name)
                ?? throw new UsageException($"chat {word} has no command '{name[(word.Length + 1)..]}'; it has: {string.Join(", ", Commands.Where(c => c.Name.StartsWith(word + " ", StringComparison.Ordinal)).Select(c => c.Name[(word.Length + 1)..]))}"), rest);
        }
        return (Commands.FirstOrDefault(c => c.Name == word) ?? throw new UsageException($"unknown command '{word}'; see: chat --help"), rest);
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
