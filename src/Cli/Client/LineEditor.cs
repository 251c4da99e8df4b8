using System.Text;

namespace Chat.Cli;

/// <summary>
/// The input line of a terminal: keys edit it, and a line printed meanwhile goes above it, after which the prompt and
/// what was typed so far are drawn again (ANSI: carriage return, erase line). One lock orders keys and printing.
/// </summary>
internal sealed class LineEditor(TextWriter terminal, string prompt)
{
    private const string EraseLine = "\r\u001b[2K";
    private readonly StringBuilder _typed = new();
    private readonly object _gate = new();
    private int _cursor;

    /// <summary>What has been typed and not yet entered.</summary>
    public string Typed { get { lock (_gate) return _typed.ToString(); } }

    /// <summary>Draws the prompt the first time.</summary>
    public void Start()
    {
        lock (_gate) Redraw();
    }

    /// <summary>Prints a line above the input line; <paramref name="target"/> is where it goes (stderr for errors).</summary>
    public void Print(string text, TextWriter? target = null)
    {
        lock (_gate)
        {
            terminal.Write(EraseLine);
            if (target is null || ReferenceEquals(target, terminal)) terminal.Write(text + "\r\n");
            else
            {
                terminal.Flush();
                target.Write(text + "\r\n");
                target.Flush();
            }
            Redraw();
        }
    }

    /// <summary>
    /// One key. Returns the entered line on Enter (the input line is cleared: the message comes back from the
    /// gateway), <c>/more</c> on PageUp, and null otherwise; <see cref="Ended"/> is set by Ctrl+D on an empty line.
    /// </summary>
    public string? Key(ConsoleKeyInfo key)
    {
        lock (_gate)
        {
            switch (key.Key)
            {
                case ConsoleKey.Enter:
                    var line = _typed.ToString();
                    _typed.Clear();
                    _cursor = 0;
                    Redraw();
                    return line;
                case ConsoleKey.PageUp:
                    return "/more";
                case ConsoleKey.Backspace when _cursor > 0:
                    _typed.Remove(--_cursor, 1);
                    break;
                case ConsoleKey.Delete when _cursor < _typed.Length:
                    _typed.Remove(_cursor, 1);
                    break;
                case ConsoleKey.LeftArrow when _cursor > 0:
                    _cursor--;
                    break;
                case ConsoleKey.RightArrow when _cursor < _typed.Length:
                    _cursor++;
                    break;
                case ConsoleKey.Home:
                    _cursor = 0;
                    break;
                case ConsoleKey.End:
                    _cursor = _typed.Length;
                    break;
                case ConsoleKey.D when key.Modifiers.HasFlag(ConsoleModifiers.Control):
                    if (_typed.Length == 0) Ended = true;
                    return null;
                case ConsoleKey.U when key.Modifiers.HasFlag(ConsoleModifiers.Control):
                    _typed.Clear();
                    _cursor = 0;
                    break;
                default:
                    if (key.KeyChar < ' ' || char.IsControl(key.KeyChar)) return null;
                    _typed.Insert(_cursor++, key.KeyChar);
                    break;
            }
            Redraw();
            return null;
        }
    }

    /// <summary>Ctrl+D was pressed on an empty line: the end of input.</summary>
    public bool Ended { get; private set; }

    /// <summary>Leaves the terminal on a fresh line.</summary>
    public void Finish()
    {
        lock (_gate)
        {
            terminal.Write(EraseLine);
            terminal.Flush();
        }
    }

    private void Redraw()
    {
        terminal.Write(EraseLine + prompt + _typed);
        var back = _typed.Length - _cursor;
        if (back > 0) terminal.Write($"\u001b[{back}D");
        terminal.Flush();
    }
}
