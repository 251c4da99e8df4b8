using Chat.Sql;
using Npgsql;

namespace Chat.Tests.Sql;

/// <summary>
/// A fresh PostgreSQL database holding two chat databases, A and B, written straight into the tables.
/// A is what the tests query; B shares identities with A and marks all its text with "[B]", so any
/// leak across databases shows. A third, "slow", has enough identical rows to make a join time out.
/// </summary>
public sealed class SqlTestData : IAsyncLifetime
{
    public static readonly Identity Alice = Id("0100000000000000000000000000000000000000000000000000000000000001");
    public static readonly Identity Bob = Id("ff00000000000000000000000000000000000000000000000000000000000002");
    public static readonly Identity Nameless = Id("7fffffffffffffff000000000000000000000000000000000000000000000003");
    public static readonly Identity LowerAlice = Id("8000000000000000000000000000000000000000000000000000000000000004");
    public static readonly Identity Unicode = Id("00000000000000000000000000000000000000000000000000000000000000ff");
    public static readonly Identity Fullwidth = Id("0100000000000000000000000000000000000000000000000000000000000000");
    public static readonly Identity Quoter = Id("a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5");
    /// <summary>Sends messages but has no User row, so inner joins drop them.</summary>
    public static readonly Identity Ghost = Id("5555555555555555555555555555555555555555555555555555555555555555");

    public static readonly DateTime T0 = new(2026, 1, 13, 12, 0, 0, DateTimeKind.Utc);

    public string ConnectionString { get; private set; } = "";
    public NpgsqlDataSource DataSource { get; private set; } = null!;
    public long DatabaseA { get; private set; }
    public long DatabaseB { get; private set; }
    public long SlowDatabase { get; private set; }

    public IReadOnlyList<UserRow> UsersA { get; } =
    [
        new(Alice, "Alice", true),
        new(Bob, "bob", false),
        new(Nameless, null, true),
        new(LowerAlice, "alice", false),
        new(Unicode, "Ünïcødé 😀", true),
        new(Fullwidth, "Ａlice", false),
        new(Quoter, "O'Brien \"Bob\" \\ 'x'", true),
    ];

    public IReadOnlyList<MessageRow> MessagesA { get; } = BuildMessagesA();

    public IReadOnlyList<UserRow> UsersB { get; } =
    [
        new(Alice, "[B] Alice", true),
        new(Bob, "[B] Bob", true),
        new(Id("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), null, false),
    ];

    public IReadOnlyList<MessageRow> MessagesB { get; } =
    [
        new(1, Alice, T0.AddSeconds(-5), "[B] hi"),
        new(2, Bob, T0.AddSeconds(1), "[B] Hello"),
        new(3, Alice, T0.AddSeconds(30), "[B] 😀 later"),
        new(4, Ghost, T0.AddHours(2), "[B] boo"),
    ];

    private static Identity Id(string hex) => Identity.Parse(hex);

    /// <summary>Strictly increasing, microsecond-precise timestamps; repeated texts so that sort ties happen.</summary>
    private static List<MessageRow> BuildMessagesA()
    {
        (Identity Sender, string Text)[] items =
        [
            (Alice, "Hello, World!"),
            (Bob, "hi"),
            (Nameless, "hi"),
            (Alice, "hello"),
            (Unicode, "😀 smile"),
            (Fullwidth, "Ｚ fullwidth"),
            (Ghost, "boo"),
            (Quoter, "It's \"quoted\""),
            (Bob, "zebra"),
            (Alice, "Zebra"),
            (LowerAlice, "émile"),
            (Nameless, "hi"),
            (Ghost, "'; DROP TABLE chat.message; --"),
            (Alice, "last"),
        ];
        return items.Select((m, i) => new MessageRow(i + 1, m.Sender, T0.AddTicks(i * 12_500_070L), m.Text)).ToList();
    }

    public async Task InitializeAsync()
    {
        ConnectionString = await TestPostgres.CreateDatabaseAsync();
        DataSource = NpgsqlDataSource.Create(ConnectionString);
        DatabaseA = await InsertDatabase("sql-a", UsersA, MessagesA);
        DatabaseB = await InsertDatabase("sql-b", UsersB, MessagesB);
        SlowDatabase = await InsertDatabase("sql-slow", [], []);
        await using var slow = DataSource.CreateCommand("""
            INSERT INTO chat.message (database_id, "offset", sender, sent, text)
            SELECT @db, n, @sender, @t0 + n * interval '1 millisecond', 'same' FROM generate_series(1, 3000) AS n
            """);
        slow.Parameters.AddWithValue("db", SlowDatabase);
        slow.Parameters.AddWithValue("sender", Alice.ToBytes());
        slow.Parameters.AddWithValue("t0", T0);
        await slow.ExecuteNonQueryAsync();
    }

    private async Task<long> InsertDatabase(string name, IReadOnlyList<UserRow> users, IReadOnlyList<MessageRow> messages)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        long id;
        await using (var database = new NpgsqlCommand(
            "INSERT INTO chat.database (name, owner, created_at) VALUES (@name, @owner, @created_at) RETURNING id", connection, transaction))
        {
            database.Parameters.AddWithValue("name", name);
            database.Parameters.AddWithValue("owner", Alice.ToBytes());
            database.Parameters.AddWithValue("created_at", T0);
            id = (long)(await database.ExecuteScalarAsync())!;
        }
        foreach (var user in users)
        {
            await using var insert = new NpgsqlCommand(
                """INSERT INTO chat."user" (database_id, identity, name, online) VALUES (@db, @identity, @name, @online)""", connection, transaction);
            insert.Parameters.AddWithValue("db", id);
            insert.Parameters.AddWithValue("identity", user.Identity.ToBytes());
            insert.Parameters.AddWithValue("name", (object?)user.Name ?? DBNull.Value);
            insert.Parameters.AddWithValue("online", user.Online);
            await insert.ExecuteNonQueryAsync();
        }
        foreach (var message in messages)
        {
            await using var insert = new NpgsqlCommand(
                """INSERT INTO chat.message (database_id, "offset", sender, sent, text) VALUES (@db, @offset, @sender, @sent, @text)""",
                connection, transaction);
            insert.Parameters.AddWithValue("db", id);
            insert.Parameters.AddWithValue("offset", message.Offset);
            insert.Parameters.AddWithValue("sender", message.Sender.ToBytes());
            insert.Parameters.AddWithValue("sent", message.Sent);
            insert.Parameters.AddWithValue("text", message.Text);
            await insert.ExecuteNonQueryAsync();
        }
        await transaction.CommitAsync();
        return id;
    }

    public async Task DisposeAsync()
    {
        if (DataSource is not null) await DataSource.DisposeAsync();
    }

    /// <summary>Rows in each chat table, across all databases: what an injection must not change.</summary>
    public async Task<(long Databases, long Users, long Messages)> CountAllAsync()
    {
        await using var command = DataSource.CreateCommand(
            """SELECT (SELECT count(*) FROM chat.database), (SELECT count(*) FROM chat."user"), (SELECT count(*) FROM chat.message)""");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    public Task<SqlResult> PostgresAsync(string text, SqlLimits? limits = null) =>
        PostgresSqlExecutor.ExecuteAsync(DataSource, DatabaseA, SqlQuery.Parse(text), Alice, limits ?? SqlLimits.Default, CancellationToken.None);

    public SqlResult InMemory(string text, int rowCap = 10_000) =>
        InMemorySqlEngine.Execute(SqlQuery.Parse(text), UsersA, MessagesA, Alice, rowCap);

    /// <summary>A row as text, with each value's .NET type, so equal rows mean equal values of equal types.</summary>
    public static string Show(object?[] row) =>
        string.Join(" | ", row.Select(v => $"{SqlValueFormat.Format(v)}:{v?.GetType().Name ?? "null"}"));
}
