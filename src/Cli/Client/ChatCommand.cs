namespace Chat.Cli;

/// <summary>What a line typed into the chat client asks for.</summary>
internal enum ChatCommandKind
{
    /// <summary>Nothing (an empty line).</summary>
    None,
    Send,
    SetName,
    Help,
    Who,
    More,
    Quit,
    /// <summary>A slash command the client does not know: refused here, never sent as a message.</summary>
    Unknown,
}

/// <summary>A typed line, understood: the command and its argument (the message, the name, or the unknown command's word).</summary>
internal sealed record ChatCommand(ChatCommandKind Kind, string Argument = "")
{
    public const string Help = """
        Commands:
          <text>          send a message (start it with // to send a line that begins with /)
          /name <name>    set your name (so does /nick)
          /who            list who is online
          /more           show 20 older messages (so does PageUp)
          /help           this list
          /quit           leave (so do Ctrl+C and Ctrl+D)
        """;

    public static ChatCommand Parse(string line)
    {
        var trimmed = line.Trim();
        if (trimmed.Length == 0) return new(ChatCommandKind.None);
        // "//text" is how to say a message that starts with a slash; "/ text" is not a command either.
        if (trimmed.StartsWith("//", StringComparison.Ordinal)) return new(ChatCommandKind.Send, line.TrimStart()[1..]);
        if (trimmed[0] != '/' || trimmed.Length == 1 || char.IsWhiteSpace(trimmed[1])) return new(ChatCommandKind.Send, line);
        var space = trimmed.IndexOfAny([' ', '\t']);
        var word = (space < 0 ? trimmed : trimmed[..space]).ToLowerInvariant();
        var rest = space < 0 ? "" : trimmed[(space + 1)..].Trim();
        return word switch
        {
            "/name" or "/nick" => new(ChatCommandKind.SetName, rest),
            "/help" or "/?" => new(ChatCommandKind.Help),
            "/who" or "/users" => new(ChatCommandKind.Who),
            "/more" => new(ChatCommandKind.More),
            "/quit" or "/exit" => new(ChatCommandKind.Quit),
            _ => new(ChatCommandKind.Unknown, space < 0 ? trimmed : trimmed[..space]),
        };
    }

    /// <summary>The one line shown for an unknown command.</summary>
    public static string Refusal(string word) =>
        $"unknown command {word}: not sent. /help lists the commands; start a message with // to send a line that begins with /";
}
