using System.CommandLine;
using System.CommandLine.Parsing;

namespace Chat.Cli;

/// <summary>
/// The commands as a System.CommandLine tree, built from the <see cref="CommandSpec"/>s, and what a parse of it gives a
/// command (<see cref="ParsedArguments"/>). The help text stays ours (<see cref="CliProgram.HelpFor"/>): it was the
/// contract before the library came in, and it carries the examples.
/// </summary>
internal sealed class CommandTree
{
    /// <summary>Where the positional words go; each command checks their count itself, for one wording of the usage error.</summary>
    private const string PositionalsName = "arguments";

    private readonly Dictionary<Command, CommandSpec> _specs = [];
    private readonly Dictionary<Option, OptionSpec> _options = [];

    public CommandTree(IReadOnlyList<CommandSpec> commands)
    {
        // The library's own --help and --version give way to ours; its directives ([suggest], [diagram]) stay.
        Root = new RootCommand("chat: the command line of Chat on Orleans");
        Root.Options.Clear();
        foreach (var global in Chat.Cli.Arguments.Global) Root.Options.Add(Make(global, recursive: true));
        Help = new Command("help", "show the help of a command") { Hidden = false };
        Help.Arguments.Add(new Argument<string[]>(PositionalsName) { Arity = ArgumentArity.ZeroOrMore });
        Root.Subcommands.Add(Help);
        foreach (var spec in commands)
        {
            var words = spec.Name.Split(' ');
            Command parent = Root;
            foreach (var group in words[..^1])
            {
                var existing = parent.Subcommands.FirstOrDefault(c => c.Name == group);
                if (existing is null)
                {
                    existing = new Command(group, $"{group} commands");
                    parent.Subcommands.Add(existing);
                }
                parent = existing;
            }
            var command = new Command(words[^1], spec.Summary);
            foreach (var option in spec.Options) command.Options.Add(Make(option, recursive: false));
            command.Arguments.Add(new Argument<string[]>(PositionalsName) { Arity = ArgumentArity.ZeroOrMore, HelpName = spec.Arguments });
            parent.Subcommands.Add(command);
            _specs[command] = spec;
        }
    }

    public RootCommand Root { get; }
    public Command Help { get; }

    public static ParserConfiguration Configuration { get; } = new() { EnablePosixBundling = true, ResponseFileTokenReplacer = null };

    public ParseResult Parse(IReadOnlyList<string> args) => Root.Parse(args, Configuration);

    public CommandSpec? SpecOf(Command command) => _specs.GetValueOrDefault(command);

    private Option Make(OptionSpec spec, bool recursive)
    {
        string[] aliases = spec.Short is { } letter ? [$"-{letter}"] : [];
        Option option = spec.TakesValue
            ? new Option<string>("--" + spec.Name, aliases) { HelpName = spec.ValueName }
            : new Option<bool>("--" + spec.Name, aliases) { Arity = ArgumentArity.Zero };
        option.Description = spec.Help;
        option.Recursive = recursive;
        _options[option] = spec;
        return option;
    }

    /// <summary>The positional words and the options given, as the commands read them.</summary>
    public ParsedArguments Arguments(ParseResult parse)
    {
        var parsed = new ParsedArguments();
        var command = parse.CommandResult.Command;
        if (command.Arguments.FirstOrDefault() is { } positionals && parse.GetResult(positionals) is { } given)
            parsed.Positionals.AddRange(given.Tokens.Select(t => t.Value));
        foreach (var option in command.Options.Concat(Root.Options))
        {
            if (parse.GetResult(option) is not { Implicit: false } result || !_options.TryGetValue(option, out var spec)) continue;
            parsed.Options[spec.Name] = spec.TakesValue && result.Tokens.Count > 0 ? result.Tokens[^1].Value : null;
        }
        return parsed;
    }

    /// <summary>
    /// Positional words that look like options and came before <c>--</c>: options the command does not have. The
    /// library takes them as words (the positionals accept anything), which would send a mistyped flag as a message.
    /// </summary>
    public static string? UnknownOption(ParseResult parse)
    {
        if (parse.CommandResult.Command.Arguments.FirstOrDefault() is not { } positionals || parse.GetResult(positionals) is not { } given) return null;
        var doubleDash = parse.Tokens.ToList().FindIndex(t => t.Type == TokenType.DoubleDash);
        foreach (var token in given.Tokens)
        {
            var at = IndexOf(parse.Tokens, token);
            if (doubleDash >= 0 && at > doubleDash) continue;
            if (ParsedArguments.LooksLikeOption(token.Value)) return token.Value;
        }
        return null;
    }

    private static int IndexOf(IReadOnlyList<Token> tokens, Token token)
    {
        for (var i = 0; i < tokens.Count; i++)
            if (ReferenceEquals(tokens[i], token)) return i;
        return -1;
    }

    /// <summary>The command's full name, as <c>chat</c> spells it: <c>identity new</c>.</summary>
    public static string NameOf(ParseResult parse)
    {
        var names = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c && c.Command is not RootCommand; r = c.Parent) names.Insert(0, c.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>The closest of some names to what was typed, when it is close enough to be a likely typo.</summary>
    public static string? Closest(string typed, IEnumerable<string> names)
    {
        var best = names.Select(n => (Name: n, Distance: Distance(typed.ToLowerInvariant(), n)))
            .Where(x => x.Distance <= Math.Max(1, x.Name.Length / 3) || x.Name.StartsWith(typed, StringComparison.OrdinalIgnoreCase) && typed.Length >= 2)
            .OrderBy(x => x.Distance).FirstOrDefault();
        return best.Name;
    }

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var previous = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var current = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), previous + (a[i - 1] == b[j - 1] ? 0 : 1));
                previous = current;
            }
        }
        return row[b.Length];
    }
}
