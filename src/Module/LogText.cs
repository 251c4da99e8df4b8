using System.Text;

// Also compiled into the `chat` CLI (which references only the API), there in its own namespace so tests that see both
// assemblies are not left with two types of one name.
#if CHAT_CLI
namespace Chat.Cli;
#else
namespace Chat;
#endif

/// <summary>
/// Text a caller chose, made safe to put in a log line or an error status: it cannot start a line of its own, move a
/// terminal's cursor, clear its screen or reorder what is shown, and it has a bounded length. Pure.
/// </summary>
public static class LogText
{
    /// <summary>Reducer names are short words; anything longer is cut here, in errors and logs.</summary>
    public const int MaxReducerName = 64;

    /// <summary>A module log line written by a grain or gateway (error messages and warnings).</summary>
    public const int MaxLine = 2000;

    /// <summary>An error status's message: it travels in the grpc-message header, which clients limit (8 KiB and more).</summary>
    public const int MaxStatus = 1000;

    /// <summary>
    /// Control characters (C0, DEL, C1), line and paragraph separators and bidi controls as visible escapes
    /// (<c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\x1B</c>, <c>\u202E</c>); lone surrogates too. Everything else as it is.
    /// </summary>
    public static string Escape(string text)
    {
        var i = 0;
        while (i < text.Length && !NeedsEscape(text, i)) i++;
        if (i == text.Length) return text;
        var escaped = new StringBuilder(text.Length + 16).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                escaped.Append(c).Append(text[++i]);
                continue;
            }
            if (!NeedsEscape(text, i))
            {
                escaped.Append(c);
                continue;
            }
            escaped.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < '\u0100' => $"\\x{(int)c:X2}",
                _ => $"\\u{(int)c:X4}",
            });
        }
        return escaped.ToString();
    }

    private static bool NeedsEscape(string text, int i)
    {
        var c = text[i];
        if (char.IsSurrogate(c))
            return !(char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                   && !(char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(text[i - 1]));
        return char.IsControl(c) || c is '\u2028' or '\u2029' or '\u061C' or '\u200E' or '\u200F'
            || c is >= '\u202A' and <= '\u202E' || c is >= '\u2066' and <= '\u2069';
    }

    /// <summary>At most <paramref name="max"/> characters (whole code points), the cut marked with "…".</summary>
    public static string Bound(string text, int max)
    {
        if (text.Length <= max) return text;
        var cut = 0;
        for (var kept = 0; cut < text.Length && kept < max - 1; kept++)
            cut += char.IsHighSurrogate(text[cut]) && cut + 1 < text.Length && char.IsLowSurrogate(text[cut + 1]) ? 2 : 1;
        return cut >= text.Length ? text : string.Concat(text.AsSpan(0, cut), "…");
    }

    /// <summary>A reducer name as a caller sent it, fit for an error message or a log line.</summary>
    public static string ReducerName(string name) => Bound(Escape(name), MaxReducerName);

    /// <summary>One log line's text: escaped, then bounded.</summary>
    public static string Line(string text, int max = MaxLine) => Bound(Escape(text), max);

    /// <summary>An error status's message: bounded, with line breaks and other controls escaped.</summary>
    public static string Status(string text) => Bound(Escape(text), MaxStatus);
}
