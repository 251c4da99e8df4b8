using System.Threading.Channels;

namespace Chat.Cli;

/// <summary>
/// A real terminal (stdin and stdout both): keys are read one at a time by a thread of their own into a
/// <see cref="LineEditor"/>, so that messages arriving while a line is typed are printed above it.
/// </summary>
internal sealed class TerminalScreen : ChatScreen, IDisposable
{
    private readonly LineEditor _editor;
    private readonly TextWriter _error;
    private readonly Channel<string?> _lines = Channel.CreateUnbounded<string?>();

    public TerminalScreen(TextWriter output, TextWriter error)
    {
        (_editor, _error) = (new LineEditor(output, "> "), error);
        var reader = new Thread(ReadKeys) { IsBackground = true, Name = "chat keys" };
        reader.Start();
        _editor.Start();
    }

    private void ReadKeys()
    {
        try
        {
            while (!_editor.Ended)
            {
                var line = _editor.Key(Console.ReadKey(intercept: true));
                if (line is not null) _lines.Writer.TryWrite(line);
            }
        }
        catch (InvalidOperationException)
        {
            // The console went away.
        }
        _lines.Writer.TryWrite(null);
    }

    public override void Line(string text) => _editor.Print(text);
    public override void Error(string text) => _editor.Print(text, _error);

    public override async Task<string?> ReadLineAsync(CancellationToken cancellation) => await _lines.Reader.ReadAsync(cancellation);

    public void Dispose() => _editor.Finish();
}
