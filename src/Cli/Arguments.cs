namespace Chat.Cli;

/// <summary>An option a command accepts: <c>--name</c>, maybe a one-letter <c>-x</c>, and a value when <see cref="ValueName"/> is set.</summary>
internal sealed record OptionSpec(string Name, char? Short, string? ValueName, string Help)
{
    public bool TakesValue => ValueName is not null;

    public string Synopsis => (Short is { } s ? $"-{s}, " : "    ") + "--" + Name + (ValueName is { } v ? $" <{v}>" : "");
}

/// <summary>A mistake in how the command was called: printed as one line, exit code 64.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>A failure with its own message and exit code (1 unless said otherwise).</summary>
internal sealed class CliException(string message, int exitCode = ExitCodes.Failed) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Unreachable = 2;
    public const int Usage = 64;
    public const int Interrupted = 130;
}

/// <summary>What a command was given: its positional arguments and the options present (flags map to null).</summary>
internal sealed class ParsedArguments
{
    public List<string> Positionals { get; } = [];
    public Dictionary<string, string?> Options { get; } = new(StringComparer.Ordinal);

    public bool Has(string option) => Options.ContainsKey(option);
    public string? Value(string option) => Options.GetValueOrDefault(option);

    public uint? UInt(string option)
    {
        if (Value(option) is not { } text) return null;
        return uint.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new UsageException($"--{option} takes a whole number, not '{text}'");
    }

    public double? Seconds(string option)
    {
        if (Value(option) is not { } text) return null;
        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= 0 && double.IsFinite(value)
            ? value
            : throw new UsageException($"--{option} takes a number of seconds, not '{text}'");
    }

    public string Choice(string option, string fallback, params string[] choices)
    {
        var value = Value(option) ?? fallback;
        return choices.FirstOrDefault(c => string.Equals(c, value, StringComparison.OrdinalIgnoreCase))
            ?? throw new UsageException($"--{option} is one of {string.Join(", ", choices)}, not '{value}'");
    }
}

/// <summary>
/// A small, predictable parser: <c>--name value</c>, <c>--name=value</c>, <c>-x value</c>, <c>-xvalue</c>, flags, and
/// <c>--</c> after which everything is positional. A lone <c>-</c> and negative numbers (<c>-5</c>) are positional.
/// </summary>
internal static class Arguments
{
    public static readonly OptionSpec Server = new("server", null, "address", "the gateway (http://host:port, or a saved nickname); default: $CHAT_SERVER, else the saved default");
    public static readonly OptionSpec Identity = new("identity", null, "name", "act as this saved identity (nickname or hex prefix), not the default one");
    public static readonly OptionSpec Profile = new("profile", null, "name", "act as this profile's identity, made on first use (a second person on one machine); default: $CHAT_PROFILE");
    public static readonly OptionSpec Help = new("help", 'h', null, "show this help");

    /// <summary>Global options, accepted by every command.</summary>
    public static readonly OptionSpec[] Global = [Server, Identity, Profile, Help];

    /// <summary>The index of the first word that is neither an option nor a global option's value, or -1.</summary>
    public static int FindWord(IReadOnlyList<string> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (token == "--") return i + 1 < tokens.Count ? i + 1 : -1;
            if (token is "--server" or "--identity" or "--profile") { i++; continue; }
            if (IsOption(token)) continue;
            return i;
        }
        return -1;
    }

    public static bool IsOption(string token) =>
        token.StartsWith("--", StringComparison.Ordinal) && token.Length > 2
        || token.Length > 1 && token[0] == '-' && char.IsLetter(token[1]);

    public static ParsedArguments Parse(IReadOnlyList<string> tokens, IReadOnlyList<OptionSpec> options, string command)
    {
        var parsed = new ParsedArguments();
        var all = options.Concat(Global).ToList();
        var positionalOnly = false;
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (positionalOnly || !IsOption(token) && token != "--")
            {
                parsed.Positionals.Add(token);
                continue;
            }
            if (token == "--")
            {
                positionalOnly = true;
                continue;
            }
            if (token.StartsWith("--", StringComparison.Ordinal))
            {
                var equals = token.IndexOf('=');
                var name = equals < 0 ? token[2..] : token[2..equals];
                var spec = all.FirstOrDefault(o => o.Name == name)
                    ?? throw new UsageException($"chat {command} has no option --{name} (see: chat {command} --help; put -- before arguments that start with a dash)");
                if (!spec.TakesValue)
                {
                    if (equals >= 0) throw new UsageException($"--{name} takes no value");
                    parsed.Options[spec.Name] = null;
                }
                else if (equals >= 0) parsed.Options[spec.Name] = token[(equals + 1)..];
                else if (i + 1 < tokens.Count) parsed.Options[spec.Name] = tokens[++i];
                else throw new UsageException($"--{name} needs a value: --{name} <{spec.ValueName}>");
                continue;
            }
            // -x, -xVALUE, -x VALUE, or several flags together (-fh).
            for (var j = 1; j < token.Length; j++)
            {
                var letter = token[j];
                var spec = all.FirstOrDefault(o => o.Short == letter)
                    ?? throw new UsageException($"chat {command} has no option -{letter} (see: chat {command} --help)");
                if (!spec.TakesValue)
                {
                    parsed.Options[spec.Name] = null;
                    continue;
                }
                if (j + 1 < token.Length) parsed.Options[spec.Name] = token[(j + 1)..];
                else if (i + 1 < tokens.Count) parsed.Options[spec.Name] = tokens[++i];
                else throw new UsageException($"-{letter} needs a value: -{letter} <{spec.ValueName}>");
                break;
            }
        }
        return parsed;
    }
}
