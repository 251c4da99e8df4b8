using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Chat.Api.V1;
using Google.Protobuf.WellKnownTypes;

namespace Chat.Cli;

/// <summary>Values printed the way SpacetimeDB's CLI prints them.</summary>
internal static class Values
{
    /// <summary>RFC 3339, six fractional digits, offset: <c>2026-01-13T12:00:00.000000+00:00</c> (as <c>spacetime sql</c>).</summary>
    public static string SqlTimestamp(Timestamp? timestamp) =>
        timestamp is null ? "null" : timestamp.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);

    /// <summary>RFC 3339 in UTC with six fractional digits and Z: <c>2026-01-13T12:00:00.000000Z</c> (as <c>spacetime logs</c>).</summary>
    public static string LogTimestamp(Timestamp? timestamp) =>
        timestamp is null ? "-" : timestamp.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public static string Identity(string hex) => hex.StartsWith("0x", StringComparison.Ordinal) ? hex : "0x" + hex;

    /// <summary>A string as <c>spacetime sql</c> shows it: double-quoted, with JSON escapes.</summary>
    public static string Quote(string text)
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

    /// <summary>One SQL result value in the table form.</summary>
    public static string Sql(SqlValue value) => value.ValueCase switch
    {
        SqlValue.ValueOneofCase.None or SqlValue.ValueOneofCase.Null => "null",
        SqlValue.ValueOneofCase.Identity => Identity(value.Identity),
        SqlValue.ValueOneofCase.String => Quote(value.String),
        SqlValue.ValueOneofCase.Bool => value.Bool ? "true" : "false",
        SqlValue.ValueOneofCase.Timestamp => SqlTimestamp(value.Timestamp),
        SqlValue.ValueOneofCase.U64 => value.U64.ToString(CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    /// <summary>The name a chat client shows for a user: their name, else the first 8 hex digits of their identity.</summary>
    public static string DisplayName(string identity, string? name) =>
        !string.IsNullOrEmpty(name) ? name : identity.Length > 8 ? identity[..8] : identity;
}

/// <summary>Tables in the psql style that <c>spacetime sql</c> prints: padded cells, <c>|</c> between columns, a <c>-+-</c> rule under the header.</summary>
internal static class Table
{
    public static void Write(TextWriter output, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var body = rows.ToList();
        var widths = header.Select(Width).ToArray();
        foreach (var row in body)
            for (var i = 0; i < widths.Length && i < row.Count; i++)
                widths[i] = Math.Max(widths[i], Width(row[i]));

        output.WriteLine(Line(header, widths));
        output.WriteLine(string.Join("+", widths.Select(w => new string('-', w + 2))));
        foreach (var row in body) output.WriteLine(Line(row, widths));
    }

    private static string Line(IReadOnlyList<string> cells, int[] widths)
    {
        var line = new StringBuilder();
        for (var i = 0; i < widths.Length; i++)
        {
            if (i > 0) line.Append('|');
            var cell = i < cells.Count ? cells[i] : "";
            line.Append(' ').Append(cell).Append(' ', widths[i] - Width(cell) + 1);
        }
        return line.ToString().TrimEnd();
    }

    private static int Width(string text) => new StringInfo(text).LengthInTextElements;
}

/// <summary>JSON output: compact or indented, with non-ASCII text left readable.</summary>
internal static class JsonOutput
{
    public static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    public static readonly JsonWriterOptions Indented = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = true };

    /// <summary>One JSON document on its own line: what <c>--format json</c> prints for a verb's result.</summary>
    public static void Line(TextWriter output, Action<Utf8JsonWriter> write) => output.WriteLine(Write(write));

    public static void NullableString(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null) writer.WriteNull(name);
        else writer.WriteString(name, value);
    }

    public static void Settings(Utf8JsonWriter writer, DatabaseSettings? settings)
    {
        writer.WriteStartObject("settings");
        if (settings is not null)
        {
            if (settings.HasMaxNameLength) writer.WriteNumber("max_name_length", settings.MaxNameLength);
            if (settings.HasMaxMessageLength) writer.WriteNumber("max_message_length", settings.MaxMessageLength);
            if (settings.HasUniqueNames) writer.WriteBoolean("unique_names", settings.UniqueNames);
            if (settings.HasRequireNameToSend) writer.WriteBoolean("require_name_to_send", settings.RequireNameToSend);
            if (settings.HasMessagesPerSecond) writer.WriteNumber("messages_per_second", settings.MessagesPerSecond);
            if (settings.HasMessageBurst) writer.WriteNumber("message_burst", settings.MessageBurst);
            if (settings.HasDatabaseMessagesPerSecond) writer.WriteNumber("database_messages_per_second", settings.DatabaseMessagesPerSecond);
            if (settings.HasDatabaseMessageBurst) writer.WriteNumber("database_message_burst", settings.DatabaseMessageBurst);
        }
        writer.WriteEndObject();
    }

    public static string Write(Action<Utf8JsonWriter> write, bool indented = false)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, indented ? Indented : Compact)) write(writer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static void Value(Utf8JsonWriter writer, SqlValue value)
    {
        switch (value.ValueCase)
        {
            case SqlValue.ValueOneofCase.Identity: writer.WriteStringValue(Values.Identity(value.Identity)); break;
            case SqlValue.ValueOneofCase.String: writer.WriteStringValue(value.String); break;
            case SqlValue.ValueOneofCase.Bool: writer.WriteBooleanValue(value.Bool); break;
            case SqlValue.ValueOneofCase.Timestamp: writer.WriteStringValue(Values.SqlTimestamp(value.Timestamp)); break;
            case SqlValue.ValueOneofCase.U64: writer.WriteNumberValue(value.U64); break;
            default: writer.WriteNullValue(); break;
        }
    }

    public static void User(Utf8JsonWriter writer, UserRow user)
    {
        writer.WriteStartObject();
        writer.WriteString("identity", Values.Identity(user.Identity));
        if (user.HasName) writer.WriteString("name", user.Name);
        else writer.WriteNull("name");
        writer.WriteBoolean("online", user.Online);
        writer.WriteEndObject();
    }

    public static void Message(Utf8JsonWriter writer, MessageRow message)
    {
        writer.WriteStartObject();
        writer.WriteString("sender", Values.Identity(message.Sender));
        writer.WriteString("sent", Values.SqlTimestamp(message.Sent));
        writer.WriteString("text", message.Text);
        writer.WriteNumber("offset", message.Offset);
        writer.WriteEndObject();
    }
}

/// <summary>ANSI colour, used only when the output is a terminal and NO_COLOR is unset.</summary>
internal readonly record struct Colors(bool Enabled)
{
    public string Paint(string text, string code) => Enabled ? $"\u001b[{code}m{text}\u001b[0m" : text;
    public string Bold(string text) => Paint(text, "1");
    public string Dim(string text) => Paint(text, "2");
    public string Red(string text) => Paint(text, "31");
    public string Green(string text) => Paint(text, "32");
    public string Yellow(string text) => Paint(text, "33");
    public string Blue(string text) => Paint(text, "34");
    public string Magenta(string text) => Paint(text, "35");
    public string Cyan(string text) => Paint(text, "36");
}
