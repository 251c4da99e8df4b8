namespace Chat.Cli;

/// <summary>Where the chat client prints and reads: plain lines, or a terminal whose input line survives what is printed.</summary>
internal abstract class ChatScreen
{
    /// <summary>A line of the conversation (messages, notices): stdout.</summary>
    public abstract void Line(string text);

    /// <summary>A status or error line: stderr.</summary>
    public abstract void Error(string text);

    /// <summary>The next typed line; null at the end of input.</summary>
    public abstract Task<string?> ReadLineAsync(CancellationToken cancellation);
}

/// <summary>stdin and stdout as they are: what a pipe, a file or a test gets.</summary>
internal sealed class PlainScreen(TextReader input, TextWriter output, TextWriter error) : ChatScreen
{
    public override void Line(string text) => output.WriteLine(text);
    public override void Error(string text) => error.WriteLine(text);

    /// <summary>A console read is left behind on Ctrl+C: it cannot be cancelled.</summary>
    public override Task<string?> ReadLineAsync(CancellationToken cancellation) =>
        Task.Run(async () => await input.ReadLineAsync(cancellation), CancellationToken.None).WaitAsync(cancellation);
}
