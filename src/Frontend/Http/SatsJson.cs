using System.Text.Json;

namespace Chat.Frontend.Http;

/// <summary>
/// A SQL result in the JSON that SpacetimeDB's <c>POST /v1/database/:name/sql</c> answers: an array of statement results,
/// each a SATS-JSON <c>ProductType</c> schema and positional rows. Identities and timestamps are the one-field products
/// SpacetimeDB makes of them (<c>["0x…"]</c>, <c>[micros]</c>).
/// </summary>
public static class SatsJson
{
    public static byte[] Statements(SqlResult result, TimeSpan took)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            json.WriteStartObject();
            json.WritePropertyName("schema");
            json.WriteStartObject();
            json.WriteStartArray("elements");
            foreach (var column in result.Columns) WriteElement(json, column.Name, column.Type);
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartArray("rows");
            foreach (var row in result.Rows)
            {
                json.WriteStartArray();
                foreach (var value in row) WriteValue(json, value);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteNumber("total_duration_micros", (long)(took.Ticks / 10));
            json.WriteStartObject("stats");
            json.WriteNumber("rows_inserted", 0);
            json.WriteNumber("rows_deleted", 0);
            json.WriteNumber("rows_updated", 0);
            json.WriteEndObject();
            // Not in SpacetimeDB's answer (it has no row cap): said only when rows were left out.
            if (SqlMapping.Notice(result) is { } notice)
            {
                json.WriteBoolean("truncated", true);
                json.WriteString("notice", notice);
            }
            json.WriteEndObject();
            json.WriteEndArray();
        }
        return buffer.ToArray();
    }

    private static void WriteElement(Utf8JsonWriter json, string name, SqlType type)
    {
        json.WriteStartObject();
        json.WriteStartObject("name");
        json.WriteString("some", name);
        json.WriteEndObject();
        json.WritePropertyName("algebraic_type");
        WriteType(json, type);
        json.WriteEndObject();
    }

    private static void WriteType(Utf8JsonWriter json, SqlType type)
    {
        json.WriteStartObject();
        switch (type)
        {
            case SqlType.Identity:
                WriteWrapper(json, "__identity__", "U256");
                break;
            case SqlType.Timestamp:
                WriteWrapper(json, "__timestamp_micros_since_unix_epoch__", "I64");
                break;
            default:
                json.WriteStartArray(type switch { SqlType.String => "String", SqlType.Bool => "Bool", _ => "U64" });
                json.WriteEndArray();
                break;
        }
        json.WriteEndObject();
    }

    private static void WriteWrapper(Utf8JsonWriter json, string field, string inner)
    {
        json.WriteStartObject("Product");
        json.WriteStartArray("elements");
        json.WriteStartObject();
        json.WriteStartObject("name");
        json.WriteString("some", field);
        json.WriteEndObject();
        json.WriteStartObject("algebraic_type");
        json.WriteStartArray(inner);
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case Identity identity:
                json.WriteStartArray();
                json.WriteStringValue("0x" + identity);
                json.WriteEndArray();
                break;
            case string text:
                json.WriteStringValue(text);
                break;
            case bool flag:
                json.WriteBooleanValue(flag);
                break;
            case DateTime time:
                json.WriteStartArray();
                json.WriteNumberValue(Micros(time));
                json.WriteEndArray();
                break;
            case ulong number:
                json.WriteNumberValue(number);
                break;
            default:
                throw new InvalidOperationException($"A SQL value of type {value.GetType().Name} has no SATS-JSON form.");
        }
    }

    public static long Micros(DateTime time) => (DateTime.SpecifyKind(time, DateTimeKind.Utc) - DateTime.UnixEpoch).Ticks / 10;
}
