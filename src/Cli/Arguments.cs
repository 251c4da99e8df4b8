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

    /// <summary>Whether JSON was asked for with the global <c>--format json</c>.</summary>
    public bool Json => Choice("format", "text", "text", "json") == "json";

    /// <summary>A word that is an option, not a value: <c>--x…</c>, or <c>-x…</c> with a letter (so <c>-5</c> and <c>-</c> are words).</summary>
    public static bool LooksLikeOption(string token) =>
        token.StartsWith("--", StringComparison.Ordinal) && token.Length > 2
        || token.Length > 1 && token[0] == '-' && char.IsLetter(token[1]);
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

/// <summary>The options every command has; the parsing itself is System.CommandLine's (<see cref="CommandTree"/>).</summary>
internal static class Arguments
{
    public static readonly OptionSpec Server = new("server", null, "address", "the gateway (http://host:port, or a saved nickname); default: $CHAT_SERVER, else the saved default");
    public static readonly OptionSpec Identity = new("identity", null, "name", "act as this saved identity (nickname or hex prefix), not the default one");
    public static readonly OptionSpec Profile = new("profile", null, "name", "act as this profile's identity, made on first use (a second person on one machine); default: $CHAT_PROFILE");
    public static readonly OptionSpec Format = new("format", null, "text|json", "text for people (default), or JSON for programs: one document, or one per line for streams");
    public static readonly OptionSpec Help = new("help", 'h', null, "show this help");

    /// <summary>Global options, accepted by every command.</summary>
    public static readonly OptionSpec[] Global = [Server, Identity, Profile, Format, Help];

    /// <summary>The index of the first word that is neither an option nor a global option's value, or -1.</summary>
    public static int FindWord(IReadOnlyList<string> tokens)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (token == "--") return i + 1 < tokens.Count ? i + 1 : -1;
            if (token is "--server" or "--identity" or "--profile" or "--format") { i++; continue; }
            if (IsOption(token)) continue;
            return i;
        }
        return -1;
    }

    public static bool IsOption(string token) => ParsedArguments.LooksLikeOption(token);
}
