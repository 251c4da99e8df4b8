using Chat.Sql;

namespace Chat.Tests.Sql;

/// <summary>
/// The same queries through PostgreSQL (database A) and the in-memory engine (A's rows) must give the
/// same columns and the same rows. Both engines promise one total order (the query's keys, then each
/// table's primary key), so rows are compared in order even without ORDER BY, which is stricter than
/// comparing them as multisets.
/// </summary>
public class SqlAgreementTests(SqlTestData data) : IClassFixture<SqlTestData>
{
    public static TheoryData<string> Corpus() => new()
    {
        // SELECT forms
        "SELECT * FROM User",
        "SELECT * FROM Message",
        "select * from user;",
        "SELECT u.* FROM User u",
        "SELECT m.* FROM Message AS m WHERE m.offset > 3",
        "SELECT name, identity, online FROM User",
        "SELECT name AS who, online AS here FROM User",
        "SELECT m.text AS body, m.sent, m.offset AS n FROM Message m",
        "SELECT \"text\", \"OFFSET\" FROM \"message\"",
        "SELECT COUNT(*) FROM User",
        "SELECT COUNT(*) AS n FROM Message WHERE text = 'hi'",
        "SELECT COUNT(*) FROM Message LIMIT 0",
        "SELECT COUNT(*) FROM Message OFFSET 1",
        // joins
        "SELECT * FROM User u JOIN Message m ON u.identity = m.sender",
        "SELECT u.name, m.text FROM Message m JOIN User u ON m.sender = u.identity WHERE u.online = true",
        "SELECT m.* FROM Message m INNER JOIN User u ON u.identity = m.sender WHERE u.name IS NULL",
        "SELECT a.name, b.name AS other FROM User a JOIN User b ON a.online = b.online WHERE a.identity < b.identity",
        "SELECT COUNT(*) FROM Message a JOIN Message b ON a.text = b.text",
        "SELECT a.offset, b.offset AS same_sender FROM Message a JOIN Message b ON a.sender = b.sender AND a.text = b.text WHERE a.offset <> b.offset",
        "SELECT u.name, m.text, v.name AS sender_twin FROM User u JOIN Message m ON u.identity = m.sender JOIN User v ON v.identity = m.sender",
        // every operator, on every type
        "SELECT * FROM Message WHERE offset = 4",
        "SELECT * FROM Message WHERE offset != 4",
        "SELECT * FROM Message WHERE offset <> 4",
        "SELECT * FROM Message WHERE offset < 4",
        "SELECT * FROM Message WHERE offset > 4",
        "SELECT * FROM Message WHERE offset <= 4",
        "SELECT * FROM Message WHERE offset >= 4",
        "SELECT * FROM Message WHERE 4 < offset",
        "SELECT * FROM Message WHERE offset < 18446744073709551615",
        "SELECT * FROM Message WHERE offset > 9223372036854775808",
        "SELECT * FROM User WHERE name < 'alice'",
        "SELECT * FROM User WHERE name >= 'Zzz'",
        "SELECT * FROM User WHERE name > 'Ｚ'",
        "SELECT * FROM Message WHERE text > '😀'",
        "SELECT * FROM Message WHERE text < 'Ｚ'",
        "SELECT * FROM User WHERE online = false",
        "SELECT * FROM User WHERE online",
        "SELECT * FROM User WHERE online > false",
        "SELECT * FROM User WHERE identity > 0x7fffffffffffffff000000000000000000000000000000000000000000000003",
        "SELECT * FROM User WHERE identity <= X'0100000000000000000000000000000000000000000000000000000000000001'",
        "SELECT * FROM User WHERE identity = 0xFF00000000000000000000000000000000000000000000000000000000000002",
        "SELECT * FROM Message WHERE sender = :sender",
        "SELECT * FROM User WHERE identity <> :sender AND online",
        "SELECT * FROM Message WHERE sent > '2026-01-13T12:00:05Z'",
        "SELECT * FROM Message WHERE sent <= '2026-01-13T12:00:25.000105Z'",
        "SELECT * FROM Message WHERE sent = '2026-01-13T12:00:01.250007Z'",
        "SELECT * FROM Message WHERE sent >= '2026-01-13T13:00:10.0000001+01:00'",
        "SELECT * FROM Message WHERE '2026-01-13 12:00:10z' > sent",
        // NULLs and three-valued logic
        "SELECT * FROM User WHERE name IS NULL",
        "SELECT * FROM User WHERE name IS NOT NULL",
        "SELECT * FROM User WHERE name = 'bob'",
        "SELECT * FROM User WHERE name <> 'bob'",
        "SELECT * FROM User WHERE NOT (name = 'bob')",
        "SELECT * FROM User WHERE name = 'bob' OR online",
        "SELECT * FROM User WHERE NOT (name = 'bob' AND online)",
        "SELECT * FROM User WHERE (name = 'x') IS NULL",
        "SELECT * FROM User WHERE NOT NOT (name > 'a' OR NOT online)",
        "SELECT * FROM User WHERE (name = 'bob') = false",
        // AND / OR / NOT / parentheses
        "SELECT * FROM Message WHERE text = 'hi' AND offset > 2 OR sender = :sender",
        "SELECT * FROM Message WHERE text = 'hi' AND (offset > 2 OR sender = :sender)",
        "SELECT * FROM Message WHERE NOT text = 'hi' AND NOT (offset < 3 OR offset > 12)",
        "SELECT * FROM Message WHERE ((((text = 'hi'))))",
        "SELECT * FROM Message WHERE true AND 1 = 1 AND 'a' < 'b' AND NOT false",
        "SELECT * FROM Message WHERE text = 'It''s \"quoted\"'",
        "SELECT * FROM Message WHERE text = '''; DROP TABLE chat.message; --'",
        // ORDER BY, LIMIT, OFFSET
        "SELECT * FROM User ORDER BY name",
        "SELECT * FROM User ORDER BY name DESC",
        "SELECT name FROM User ORDER BY online DESC, name ASC",
        "SELECT * FROM Message ORDER BY text, offset DESC",
        "SELECT * FROM Message ORDER BY sender DESC, sent",
        "SELECT text AS t FROM Message ORDER BY t DESC LIMIT 5",
        "SELECT * FROM Message ORDER BY offset DESC LIMIT 3",
        "SELECT * FROM Message ORDER BY offset LIMIT 4 OFFSET 4",
        "SELECT * FROM Message ORDER BY offset OFFSET 4 LIMIT 4",
        "SELECT * FROM Message ORDER BY offset OFFSET 12",
        "SELECT * FROM Message ORDER BY offset LIMIT 5 OFFSET 100",
        "SELECT * FROM Message LIMIT 3",
        "SELECT * FROM Message OFFSET 10",
        "SELECT * FROM User ORDER BY name = 'bob', identity DESC",
        "SELECT u.name, m.text FROM User u JOIN Message m ON u.identity = m.sender ORDER BY u.name DESC, m.sent DESC LIMIT 6",
        "SELECT * FROM Message WHERE text = 'hi' ORDER BY sent DESC LIMIT 1",
        // SpacetimeDB's forms: joins without ON (linked in WHERE, or not at all), aliases without AS, identities as
        // strings, numbers in its notations
        "SELECT User.* FROM User JOIN Message WHERE Message.sender = :sender",
        "SELECT u.name, m.text FROM User u JOIN Message m WHERE u.identity = m.sender AND m.offset > 3",
        "SELECT * FROM User CROSS JOIN Message WHERE identity = sender AND online",
        "SELECT m.text, u.name FROM Message m JOIN User u WHERE m.sender = u.identity OR m.text = 'hi'",
        "SELECT m.offset, u.name, v.name AS me FROM Message m JOIN User u ON m.sender = u.identity JOIN User v WHERE v.identity = :sender",
        "SELECT a.name, b.name AS other FROM User a CROSS JOIN User b WHERE a.identity < b.identity AND a.online ORDER BY a.name, b.name",
        "SELECT COUNT(*) AS n FROM User CROSS JOIN Message",
        "SELECT COUNT(*) n FROM User a JOIN User b",
        "SELECT COUNT(*) n FROM Message a JOIN Message b JOIN User c WHERE a.text = b.text AND b.sender = c.identity AND (c.online OR a.offset = 3)",
        "SELECT m.offset, u.name FROM Message m JOIN User u WHERE m.sender = u.identity ORDER BY m.offset DESC LIMIT 2e0",
        "SELECT * FROM User a CROSS JOIN User b WHERE false",
        "SELECT a.identity, b.identity AS other FROM User a JOIN User b WHERE a.name = b.name",
        "SELECT a.name, b.offset FROM User a JOIN Message b WHERE b.sender = a.identity AND NOT (b.text = 'hi') OR a.name IS NULL AND b.offset < 3",
        "select text t from Message where offset > 1e1",
        "select count(*) n from Message",
        "SELECT m.text body, m.offset n FROM Message m WHERE m.offset <= +3",
        "SELECT * FROM User WHERE identity = '0100000000000000000000000000000000000000000000000000000000000001'",
        "SELECT * FROM User WHERE identity >= '0xFF00000000000000000000000000000000000000000000000000000000000002'",
        "SELECT * FROM Message WHERE '5555555555555555555555555555555555555555555555555555555555555555' = sender",
        "SELECT * FROM Message WHERE offset = 1E1 OR offset = 1.2e1 OR offset = 30e-1 OR offset = .4e1 OR offset = 1.0",
        "SELECT * FROM Message LIMIT 1e1",
        "SELECT * FROM Message WHERE offset < 18446744073709551615e0",
        // join subscriptions' forms, run ad hoc (one row per joined pair, as SQL has it)
        "SELECT \"Message\".* FROM \"Message\" JOIN \"User\" ON \"Message\".\"sender\" = \"User\".\"identity\"",
        "SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity WHERE u.name = 'alice'",
        "SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender WHERE m.text = 'hi'",
        "SELECT a.* FROM User a JOIN User b ON a.name = b.name WHERE b.identity = :sender",
        "SELECT m.* FROM Message m CROSS JOIN User u WHERE m.sender = u.identity AND u.online",
        "SELECT u.* FROM User u CROSS JOIN Message m WHERE u.identity = m.sender AND NOT (m.text = 'hi') AND m.offset >= 3",
        // comments and layout
        "-- leading comment\nSELECT /* inline */ * FROM Message /* nested /* comment */ still */ WHERE offset > 10 -- trailing",
        "  SELECT\n\t*\r\nFROM   User\n WHERE   online ;  ",
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task PostgreSQL_and_the_in_memory_engine_agree(string query)
    {
        var postgres = await data.PostgresAsync(query);
        var memory = data.InMemory(query);

        Assert.Equal(memory.Columns, postgres.Columns);
        Assert.Equal(memory.Rows.Select(SqlTestData.Show), postgres.Rows.Select(SqlTestData.Show));
        Assert.Equal(memory.Truncated, postgres.Truncated);
        Assert.All(postgres.Rows, row => Assert.DoesNotContain("[B]", SqlTestData.Show(row)));
    }

    [Fact]
    public void The_corpus_covers_enough_queries_and_most_return_rows()
    {
        var queries = ((IEnumerable<object[]>)Corpus()).Select(row => (string)row[0]).ToList();
        Assert.True(queries.Count >= 40);
        var nonEmpty = queries.Count(q => data.InMemory(q).Rows.Count > 0);
        Assert.True(nonEmpty >= queries.Count * 3 / 4, $"only {nonEmpty} of {queries.Count} queries return rows");
    }

    [Fact]
    public async Task Counts_are_database_As_only()
    {
        Assert.Equal((ulong)data.MessagesA.Count, (await data.PostgresAsync("SELECT COUNT(*) FROM Message")).Rows.Single()[0]);
        Assert.Equal((ulong)data.UsersA.Count, (await data.PostgresAsync("SELECT COUNT(*) FROM User")).Rows.Single()[0]);
        // B has rows for the same identities: a join that forgot the database on either side would find them.
        var joined = data.MessagesA.Count(m => data.UsersA.Any(u => u.Identity == m.Sender));
        Assert.Equal((ulong)joined, (await data.PostgresAsync("SELECT COUNT(*) FROM User u JOIN Message m ON u.identity = m.sender")).Rows.Single()[0]);
        Assert.Equal((ulong)data.UsersA.Count, (await data.PostgresAsync("SELECT COUNT(*) FROM User a JOIN User b ON a.identity = b.identity")).Rows.Single()[0]);
        Assert.Empty((await data.PostgresAsync("SELECT * FROM Message WHERE text = '[B] hi' OR offset > 14")).Rows);
        // Joins without ON are held to A on every side too, whatever WHERE says.
        Assert.Equal((ulong)(data.UsersA.Count * data.MessagesA.Count), (await data.PostgresAsync("SELECT COUNT(*) FROM User CROSS JOIN Message")).Rows.Single()[0]);
        Assert.Equal((ulong)(data.UsersA.Count * data.UsersA.Count), (await data.PostgresAsync("SELECT COUNT(*) FROM User a JOIN User b WHERE true OR a.name = '[B] Alice'")).Rows.Single()[0]);
        Assert.Equal((ulong)joined, (await data.PostgresAsync("SELECT COUNT(*) FROM User JOIN Message WHERE identity = sender")).Rows.Single()[0]);
    }

    [Fact]
    public void Every_table_instance_is_held_to_the_database_and_values_are_parameters()
    {
        var statement = PostgresTranslator.Translate(
            SqlQuery.Parse("SELECT u.name FROM User u JOIN Message m ON u.identity = m.sender JOIN User v ON v.identity = m.sender WHERE m.text = 'x' OR true"),
            42, SqlTestData.Alice);
        Assert.Contains("t0.database_id = @db AND t1.database_id = @db AND t2.database_id = @db AND ", statement.Sql);
        var cross = PostgresTranslator.Translate(
            SqlQuery.Parse("SELECT u.name FROM User u CROSS JOIN Message m JOIN User v WHERE m.text = 'x' OR true"), 42, SqlTestData.Alice);
        Assert.Contains(" CROSS JOIN chat.\"message\" AS t1 CROSS JOIN chat.\"user\" AS t2 WHERE t0.database_id = @db AND t1.database_id = @db AND t2.database_id = @db AND (", cross.Sql);
        Assert.DoesNotContain("'", statement.Sql);
        Assert.Equal(42L, statement.Parameters.Single(p => p.ParameterName == "db").Value);
        Assert.Contains(statement.Parameters, p => "x".Equals(p.Value));
    }

    [Fact]
    public async Task The_row_cap_cuts_results_the_same_way_in_both_engines()
    {
        var limits = new SqlLimits { RowCap = 3 };
        foreach (var query in new[] { "SELECT * FROM Message", "SELECT * FROM Message ORDER BY text DESC", "SELECT * FROM User u JOIN Message m ON u.identity = m.sender" })
        {
            var postgres = await data.PostgresAsync(query, limits);
            var memory = data.InMemory(query, rowCap: 3);
            Assert.True(postgres.Truncated);
            Assert.True(memory.Truncated);
            Assert.Equal(3, postgres.Rows.Count);
            Assert.Equal(memory.Rows.Select(SqlTestData.Show), postgres.Rows.Select(SqlTestData.Show));
        }

        var exact = await data.PostgresAsync("SELECT * FROM User", new SqlLimits { RowCap = data.UsersA.Count });
        Assert.False(exact.Truncated);
        Assert.Equal(data.UsersA.Count, exact.Rows.Count);
        Assert.False((await data.PostgresAsync("SELECT * FROM Message LIMIT 3", limits)).Truncated);
        Assert.False(data.InMemory("SELECT * FROM Message LIMIT 3", rowCap: 3).Truncated);
    }

    [Fact]
    public async Task A_query_that_runs_too_long_is_cancelled_with_a_clear_error()
    {
        var query = SqlQuery.Parse("SELECT COUNT(*) FROM Message a JOIN Message b ON a.text = b.text JOIN Message c ON b.text = c.text");
        // No cost check: this is about the timeout, which holds whatever the planner's statistics say.
        var limits = new SqlLimits { StatementTimeout = TimeSpan.FromMilliseconds(200), MaxCost = 0 };
        var error = await Assert.ThrowsAsync<SqlQueryException>(() =>
            PostgresSqlExecutor.ExecuteAsync(data.DataSource, data.SlowDatabase, query, SqlTestData.Alice, limits, CancellationToken.None));
        Assert.Contains("took longer than 200 ms", error.Message);

        // The pool hands the connection out again with no timeout or read-only state left behind.
        Assert.Equal((ulong)data.MessagesA.Count, (await data.PostgresAsync("SELECT COUNT(*) FROM Message")).Rows.Single()[0]);
    }

    [Fact]
    public async Task A_query_estimated_past_the_cost_limit_is_refused_before_it_runs_and_ordinary_ones_are_not()
    {
        // The planner's estimate needs statistics; autovacuum would gather them, this does it now.
        await using (var analyze = data.DataSource.CreateCommand("ANALYZE chat.message"))
            await analyze.ExecuteNonQueryAsync();
        Task<SqlResult> Run(string text) =>
            PostgresSqlExecutor.ExecuteAsync(data.DataSource, data.SlowDatabase, SqlQuery.Parse(text), SqlTestData.Alice, SqlLimits.Default, CancellationToken.None);

        // 3,000 rows with one text: a self-join on it makes 9 million rows, three ways 27 billion; so does a join linking nothing.
        foreach (var join in new[]
        {
            "SELECT COUNT(*) FROM Message a JOIN Message b ON a.text = b.text", "SELECT COUNT(*) FROM Message a JOIN Message b ON a.text = b.text JOIN Message c ON b.text = c.text",
            "SELECT COUNT(*) FROM Message a JOIN Message b WHERE a.text = b.text", "SELECT COUNT(*) FROM Message a CROSS JOIN Message b CROSS JOIN Message c",
        })
        {
            var error = await Assert.ThrowsAsync<SqlQueryException>(() => Run(join));
            Assert.Matches(@"^This query would cost about [\d,]+ by PostgreSQL's estimate, above the limit of 100,000\. Narrow it", error.Message);
        }
        Assert.Equal(3000ul, (await Run("SELECT COUNT(*) FROM Message")).Rows.Single()[0]);
        Assert.Single((await Run("SELECT * FROM Message WHERE offset = 2999")).Rows);
        Assert.Equal(3, (await Run("SELECT * FROM Message WHERE sender = :sender ORDER BY offset DESC LIMIT 3")).Rows.Count);
        Assert.Empty((await Run("SELECT * FROM Message m JOIN User u ON m.sender = u.identity")).Rows);
        Assert.Single((await Run("SELECT a.offset FROM Message a JOIN Message b WHERE a.offset = b.offset AND b.offset = 7")).Rows);
    }

    [Fact]
    public async Task Values_come_back_as_the_documented_dotnet_types()
    {
        var result = await data.PostgresAsync("SELECT m.sender, m.sent, m.text, m.offset, u.name, u.online FROM Message m JOIN User u ON u.identity = m.sender WHERE m.offset = 1");
        var row = result.Rows.Single();
        Assert.Equal(SqlTestData.Alice, row[0]);
        var sent = Assert.IsType<DateTime>(row[1]);
        Assert.Equal(DateTimeKind.Utc, sent.Kind);
        Assert.Equal(SqlTestData.T0, sent);
        Assert.Equal("Hello, World!", row[2]);
        Assert.Equal(1ul, row[3]);
        Assert.Equal("Alice", row[4]);
        Assert.Equal(true, row[5]);
        Assert.Equal(
            [new SqlColumn("sender", SqlType.Identity), new SqlColumn("sent", SqlType.Timestamp), new SqlColumn("text", SqlType.String),
             new SqlColumn("offset", SqlType.U64), new SqlColumn("name", SqlType.String), new SqlColumn("online", SqlType.Bool)],
            result.Columns);
        Assert.Null((await data.PostgresAsync("SELECT name FROM User WHERE name IS NULL")).Rows.Single()[0]);
    }
}
