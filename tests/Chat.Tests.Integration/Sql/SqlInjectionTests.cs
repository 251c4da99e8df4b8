using Chat.Sql;

namespace Chat.Tests.Sql;

/// <summary>
/// Hostile input against a real PostgreSQL: each attempt is either refused with a SqlQueryException or
/// answered as a plain query over database A, and no table changes.
/// </summary>
public class SqlInjectionTests(SqlTestData data) : IClassFixture<SqlTestData>
{
    private const string Drop = "DROP TABLE chat.message";

    public static TheoryData<string> Attempts() => new()
    {
        "'; DROP TABLE chat.message; --",
        "SELECT * FROM Message WHERE text = ''; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE text = '''; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE text = 'x' OR 1 = 1 --'; DROP TABLE chat.message",
        "SELECT * FROM Message; DROP TABLE chat.message",
        "SELECT * FROM Message -- comment\n; DROP TABLE chat.message",
        "SELECT * FROM Message /* ; DROP TABLE chat.message; */ WHERE offset > 1",
        "SELECT * FROM Message /* unterminated ; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE text = 'a' /**/OR/**/true",
        "SELECT * FROM \"Message\"\"; DROP TABLE chat.message; --\"",
        "SELECT \"text\" FROM Message WHERE \"text\" = '\"; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE text = \"x\"; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE text = `x`; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE text = ʼxʼ; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE text = ‘x’; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE text = ’x’",
        "SELECT * FROM Message WHERE text = ＇x＇ OR ＇1＇=＇1＇",
        "SELECT * FROM Message WHERE text = 'ʼ; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE text = '＇; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE text = '\\'; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE text = E'\\''; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE text = $$x$$; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE text = U&'\\0027'",
        "SELECT * FROM Message WHERE text = 'a\0'; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE text = 'a'\0; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE offset = 99999999999999999999999999999999",
        "SELECT * FROM Message WHERE offset = 18446744073709551615",
        "SELECT * FROM Message WHERE offset = 1e308",
        "SELECT * FROM Message WHERE sender = 0x" + new string('f', 65),
        "SELECT * FROM Message WHERE sender = X'" + new string('0', 63) + "'; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE text = '" + new string('x', 5000) + "'",
        "SELECT * FROM Message WHERE text = '" + new string('\'', 4000) + "'",
        "SELECT * FROM Message WHERE " + new string('(', 10_000) + "true" + new string(')', 10_000),
        "SELECT * FROM Message WHERE " + new string('(', 4_000) + "true" + new string(')', 4_000),
        "SELECT * FROM Message WHERE database_id = 1 OR true",
        "SELECT * FROM Message m JOIN chat.database d ON d.id = m.database_id",
        "SELECT * FROM Message m JOIN User u ON m.sender = u.identity OR 1 = 1",
        "SELECT * FROM pg_catalog.pg_tables",
        "SELECT * FROM Message WHERE text = (SELECT 'x')",
        "SELECT pg_sleep(10) FROM Message",
        "SELECT * FROM Message WHERE text = 'a' UNION SELECT * FROM User",
        "SELECT * FROM Message ORDER BY (SELECT 1)",
        "SELECT * FROM Message LIMIT ALL",
        "SELECT * FROM Message WHERE sender = :sender; DROP TABLE chat.message",
        "SELECT * FROM Message WHERE sender = :sender::text",
        "SELECT * FROM Message AS \"t0\" WHERE \"t0\".database_id = 2",
        "SELECT * FROM Message AS t0 JOIN Message AS t1 ON t0.offset = t1.offset WHERE t1.text = 'x' OR true",
        "SELECT * FROM \"Message\" AS \"x\"\"; DROP TABLE chat.message; --\"",
        "SELECT * FROM Message CROSS JOIN chat.database",
        "SELECT * FROM Message m JOIN User u WHERE true OR m.text = '[B] hi'",
        "SELECT * FROM Message AS t0 CROSS JOIN Message AS t1 WHERE t1.text = 'x' OR true LIMIT 5",
        "SELECT * FROM User WHERE identity = '0x'' OR 1=1 --'",
        "SELECT * FROM User WHERE identity = '0x" + new string('0', 63) + "''; DROP TABLE chat.message; --'",
        "SELECT * FROM Message WHERE offset = 1e99999999999999999",
        "SELECT * FROM Message WHERE offset = +-1",
        "SELECT * FROM Message WHERE offset = 1e3; DROP TABLE chat.message",
        "SELECT text t; DROP TABLE chat.message FROM Message",
        "SELECT * FROM Message WHERE text = 'x' --" + new string('x', 49_900),
        "DROP TABLE chat.message",
        "SET statement_timeout = 0",
        "COPY chat.message TO STDOUT",
    };

    [Theory]
    [MemberData(nameof(Attempts))]
    public async Task Each_attempt_is_refused_or_answered_plainly_and_changes_nothing(string attempt)
    {
        var before = await data.CountAllAsync();
        SqlQuery query;
        try
        {
            query = SqlQuery.Parse(attempt);
        }
        catch (SqlQueryException)
        {
            Assert.Equal(before, await data.CountAllAsync());
            return;
        }

        // Valid after all: nothing the user typed may be part of the SQL text, and the answer is A's rows only.
        var statement = PostgresTranslator.Translate(query, data.DatabaseA, SqlTestData.Alice);
        Assert.DoesNotContain("DROP", statement.Sql, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("'", statement.Sql);
        Assert.DoesNotContain("--", statement.Sql);
        Assert.DoesNotContain("/*", statement.Sql);
        Assert.DoesNotContain(";", statement.Sql);

        var postgres = await PostgresSqlExecutor.ExecuteAsync(data.DataSource, data.DatabaseA, query, SqlTestData.Alice, SqlLimits.Default, CancellationToken.None);
        var memory = InMemorySqlEngine.Execute(query, data.UsersA, data.MessagesA, SqlTestData.Alice, SqlLimits.Default.RowCap);
        Assert.Equal(memory.Rows.Select(SqlTestData.Show), postgres.Rows.Select(SqlTestData.Show));
        Assert.All(postgres.Rows, row => Assert.DoesNotContain("[B]", SqlTestData.Show(row)));
        Assert.Equal(before, await data.CountAllAsync());
    }

    [Fact]
    public async Task Literals_that_look_like_sql_are_just_values()
    {
        var result = await data.PostgresAsync("SELECT offset FROM Message WHERE text = '''; DROP TABLE chat.message; --'");
        Assert.Equal(13ul, Assert.Single(result.Rows)[0]);
        Assert.Empty((await data.PostgresAsync("SELECT * FROM Message WHERE text = '" + Drop + "'")).Rows);
        Assert.Equal((ulong)data.MessagesA.Count, (await data.PostgresAsync("SELECT COUNT(*) FROM Message WHERE text = 'x' OR 1 = 1")).Rows.Single()[0]);
    }

    [Fact]
    public async Task The_tables_are_all_still_there_afterwards()
    {
        foreach (var attempt in ((IEnumerable<object[]>)Attempts()).Select(row => (string)row[0]))
        {
            try
            {
                await data.PostgresAsync(attempt);
            }
            catch (SqlQueryException)
            {
            }
        }
        Assert.Equal((3L, (long)(data.UsersA.Count + data.UsersB.Count), (long)(data.MessagesA.Count + data.MessagesB.Count + 3000)),
            await data.CountAllAsync());
    }

    [Fact]
    public async Task The_timeout_and_read_only_mode_stay_inside_the_querys_transaction()
    {
        await data.PostgresAsync("SELECT * FROM Message", new SqlLimits { StatementTimeout = TimeSpan.FromMilliseconds(1234) });
        // The pool hands out the same session next: it must be back to the server's defaults.
        await using var connection = await data.DataSource.OpenConnectionAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT current_setting('statement_timeout'), current_setting('transaction_read_only')";
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(("0", "off"), (reader.GetString(0), reader.GetString(1)));
    }
}
