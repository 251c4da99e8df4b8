using System.Globalization;
using System.Text;

namespace Chat.Sql;

/// <summary>Prints result values the way SpacetimeDB's <c>spacetime sql</c> does.</summary>
public static class SqlValueFormat
{
    /// <summary>
    /// Identities as <c>0x</c> + 64 lowercase hex digits; timestamps as RFC 3339 with six fractional digits and
    /// <c>+00:00</c>; strings double-quoted with JSON escapes; <c>true</c>/<c>false</c>; numbers plain; <c>null</c>.
    /// </summary>
    public static string Format(object? value) => value switch
    {
        null => "null",
        Identity identity => "0x" + identity,
        // Our timestamps are UTC; only one marked Local needs converting.
        DateTime timestamp => (timestamp.Kind == DateTimeKind.Local ? timestamp.ToUniversalTime() : timestamp).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture),
        string text => Quote(text),
        bool flag => flag ? "true" : "false",
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>
    /// About how many bytes the row takes on the wire: what <see cref="SqlLimits.MaxResultBytes"/> counts. Each value
    /// costs a few bytes of framing besides its content.
    /// </summary>
    public static long Size(object?[] row)
    {
        long size = 0;
        foreach (var value in row)
            size += 4 + value switch
            {
                null => 0,
                Identity => 66,
                string text => Encoding.UTF8.GetByteCount(text),
                DateTime => 12,
                bool => 1,
                _ => 8,
            };
        return size;
    }

    private static string Quote(string text)
    {
        var quoted = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"': quoted.Append("\\\""); break;
                case '\\': quoted.Append("\\\\"); break;
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                case '\b': quoted.Append("\\b"); break;
                case '\f': quoted.Append("\\f"); break;
                case < ' ': quoted.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: quoted.Append(c); break;
            }
        }
        return quoted.Append('"').ToString();
    }
}
