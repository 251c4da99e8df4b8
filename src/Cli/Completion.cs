using System.Globalization;
using System.Text.RegularExpressions;

namespace Chat.Cli;

/// <summary>
/// Shell completion from System.CommandLine's completion engine. The shell hands the line being typed and the cursor
/// to <c>chat "[suggest:POSITION]" "LINE"</c> (the library's suggest-directive syntax, as dotnet-suggest uses it), which
/// prints one candidate per line; <c>chat completion bash|zsh</c> prints the few lines of shell that wire this up.
/// Nothing is downloaded or installed: the script only calls the <c>chat</c> already on the PATH.
/// </summary>
internal static partial class Completion
{
    public static readonly CommandSpec[] All =
    [
        new("completion", "<shell>", "print a shell completion script: bash or zsh",
            """
            Prints a script that makes the shell complete chat's commands and options with Tab. Load it in
            the current shell, or add the same line to ~/.bashrc or ~/.zshrc:

              source <(chat completion bash)
              source <(chat completion zsh)

            The script asks chat itself for the candidates (chat "[suggest:POSITION]" "LINE"), so it always
            matches the installed version.
            """, [], Print, 1, 1),
    ];

    [GeneratedRegex(@"^\[suggest(?::(\d+))?\]$")]
    private static partial Regex Directive();

    /// <summary>The directive in the place of the verb (global options such as --server may stand before it).</summary>
    public static bool IsRequest(string[] args) => Arguments.FindWord(args) is var at && at >= 0 && Directive().IsMatch(args[at]);

    /// <summary>The candidates for the word at the cursor, one per line.</summary>
    public static int Suggest(CommandTree tree, string[] args, TextWriter stdout)
    {
        var at = Arguments.FindWord(args);
        var match = Directive().Match(args[at]);
        var line = string.Join(' ', args[(at + 1)..]);
        var position = match.Groups[1].Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : line.Length;
        position = Math.Clamp(position, 0, line.Length);
        // The shell's line starts with the program's own name (chat, or a path to it); the parser wants what follows.
        var program = Regex.Match(line, @"^\s*(\S*/)?chat(\s+|$)");
        if (program.Success && position >= program.Length)
        {
            line = line[program.Length..];
            position -= program.Length;
        }
        var typed = line[..position];
        var parse = tree.Root.Parse(typed, CommandTree.Configuration);
        // The library matches anywhere in a name (s finds list); a shell completes the start of the word.
        var word = typed[(typed.LastIndexOfAny([' ', '\t']) + 1)..];
        foreach (var item in parse.GetCompletions(position).Select(c => c.Label).Where(l => l.StartsWith(word, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal))
            stdout.WriteLine(item);
        return ExitCodes.Ok;
    }

    private static Task<int> Print(CliContext context, ParsedArguments args)
    {
        var script = args.Positionals[0].ToLowerInvariant() switch
        {
            "bash" => Bash,
            "zsh" => Zsh,
            var other => throw new UsageException($"chat completion knows bash and zsh, not '{other}'"),
        };
        if (args.Json) JsonOutput.Line(context.Out, w => { w.WriteStartObject(); w.WriteString("shell", args.Positionals[0].ToLowerInvariant()); w.WriteString("script", script); w.WriteEndObject(); });
        else context.Out.Write(script);
        return Task.FromResult(ExitCodes.Ok);
    }

    private const string Bash = """
        # chat: bash completion. Load with: source <(chat completion bash)
        _chat_complete() {
            local IFS=$'\n'
            COMPREPLY=( $(chat "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null) )
        }
        complete -o default -F _chat_complete chat

        """;

    private const string Zsh = """
        # chat: zsh completion. Load with: source <(chat completion zsh)
        _chat_complete() {
            local -a candidates
            candidates=("${(@f)$(chat "[suggest:${CURSOR}]" "${BUFFER}" 2>/dev/null)}")
            compadd -a candidates
        }
        (( $+functions[compdef] )) || { autoload -Uz compinit && compinit }
        compdef _chat_complete chat

        """;
}
