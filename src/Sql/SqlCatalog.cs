namespace Chat.Sql;

public sealed record SqlColumnShape(string Name, SqlType Type, bool Nullable);

public sealed record SqlTableShape(string Name, IReadOnlyList<SqlColumnShape> Columns, string PrimaryKey);

/// <summary>The tables SQL and subscriptions see, for clients that describe a database: the same whitelist the translator uses.</summary>
public static class SqlCatalog
{
    public static IReadOnlyList<SqlTableShape> Tables { get; } = Schema.Tables
        .Select(t => new SqlTableShape(t.Name, t.Columns.Select(c => new SqlColumnShape(c.Name, c.Type, c.Nullable)).ToList(), t.Key.Name))
        .ToList();
}
