namespace Chat.Sql;

/// <param name="Ordinal">Position in the table's row, as the in-memory engine lays it out.</param>
/// <param name="PostgresName">The column of the real table, quoted: the only way a column name reaches SQL text.</param>
internal sealed record ColumnInfo(string Name, SqlType Type, bool Nullable, int Ordinal, string PostgresName);

/// <param name="Key">The primary key within one database: the tie-breaker that makes every ordering total.</param>
internal sealed record TableInfo(string Name, string PostgresName, IReadOnlyList<ColumnInfo> Columns, ColumnInfo Key)
{
    public ColumnInfo? Find(string name) =>
        Columns.FirstOrDefault(c => c.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    public string ColumnList => string.Join(", ", Columns.Select(c => c.Name));
}

/// <summary>
/// The two virtual tables of the chat module, as SpacetimeDB shows them, and where each lives in PostgreSQL.
/// This whitelist is the translator's only source of identifiers.
/// </summary>
internal static class Schema
{
    public static readonly TableInfo User = MakeUser();
    public static readonly TableInfo Message = MakeMessage();
    public static readonly IReadOnlyList<TableInfo> Tables = [User, Message];

    public static TableInfo? Find(string name) =>
        Tables.FirstOrDefault(t => t.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    public static string TableList => string.Join(", ", Tables.Select(t => t.Name));

    private static TableInfo MakeUser()
    {
        ColumnInfo identity = new("identity", SqlType.Identity, false, 0, "\"identity\"");
        return new TableInfo("User", "chat.\"user\"",
            [identity, new("name", SqlType.String, true, 1, "\"name\""), new("online", SqlType.Bool, false, 2, "\"online\"")],
            identity);
    }

    private static TableInfo MakeMessage()
    {
        ColumnInfo offset = new("offset", SqlType.U64, false, 3, "\"offset\"");
        return new TableInfo("Message", "chat.\"message\"",
            [
                new("sender", SqlType.Identity, false, 0, "\"sender\""),
                new("sent", SqlType.Timestamp, false, 1, "\"sent\""),
                new("text", SqlType.String, false, 2, "\"text\""),
                offset,
            ],
            offset);
    }
}
