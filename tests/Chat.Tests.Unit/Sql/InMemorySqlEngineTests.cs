using System.Text;
using Chat.Sql;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Chat.Tests.Sql;

/// <summary>The in-memory engine's semantics on hand-checked data, the row filter, the value format and serialization.</summary>
public class InMemorySqlEngineTests
{
    private static readonly Identity Me = Identity.Parse("00000000000000000000000000000000000000000000000000000000000000aa");
    private static readonly Identity Other = Identity.Parse("ff000000000000000000000000000000000000000000000000000000000000bb");
    private static readonly Identity Third = Identity.Parse("8000000000000000000000000000000000000000000000000000000000000000");
    private static readonly DateTime T0 = new(2026, 1, 13, 12, 0, 0, DateTimeKind.Utc);

    private static readonly UserRow[] Users = [new(Other, "zed", true), new(Me, "me", false), new(Third, null, true)];

    private static readonly MessageRow[] Messages =
    [
        new(1, Me, T0, "Ｚ"),
        new(2, Other, T0.AddSeconds(1), "😀"),
        new(3, Me, T0.AddSeconds(2), "a"),
        new(4, Third, T0.AddSeconds(3), "a"),
    ];

    private static SqlResult Run(string query, int rowCap = 100) =>
        InMemorySqlEngine.Execute(SqlQuery.Parse(query), Users, Messages, Me, rowCap);

    private static void Expect(string query, params object?[] firstColumn) =>
        Assert.Equal(firstColumn, Run(query).Rows.Select(r => r[0]).ToArray());

    [Fact]
    public void Joins_linking_nothing_are_refused_past_the_budget_and_links_in_WHERE_keep_big_joins_linear()
    {
        var many = Enumerable.Range(1, 2_000).Select(i => new MessageRow(i, i % 2 == 0 ? Me : Other, T0.AddSeconds(i), "same")).ToArray();
        SqlResult RunMany(string query) => InMemorySqlEngine.Execute(SqlQuery.Parse(query), Users, many, Me, 100);

        // 2,000 × 2,000 pairs is past the default budget of a million: refused before any pair is looked at.
        var error = Assert.Throws<SqlQueryException>(() => RunMany("SELECT COUNT(*) FROM Message a CROSS JOIN Message b"));
        Assert.Equal("This query's joins would look at more than 1,000,000 pairs of rows. Link the tables with = (in ON or WHERE), narrow them with WHERE, or join fewer rows.",
            error.Message);
        Assert.Throws<SqlQueryException>(() => RunMany("SELECT COUNT(*) FROM Message a JOIN Message b ON a.text = b.text"));

        // The same join linked in WHERE is a hash join: 2,000 pairs, not 4 million.
        Assert.Equal(2_000ul, RunMany("SELECT COUNT(*) FROM Message a JOIN Message b WHERE a.offset = b.offset").Rows.Single()[0]);
        Assert.Equal(1_000ul, RunMany("SELECT COUNT(*) FROM Message a JOIN Message b WHERE b.offset = a.offset AND a.sender = :sender").Rows.Single()[0]);
        Assert.Equal(1_000ul, RunMany("SELECT COUNT(*) FROM Message m CROSS JOIN User u WHERE u.identity = m.sender AND u.identity = :sender").Rows.Single()[0]);
        // A condition on the first table alone is applied before the join, so the pairs left fit the budget.
        Assert.Equal(2_000ul, RunMany("SELECT COUNT(*) FROM Message a CROSS JOIN Message b WHERE a.offset = 7").Rows.Single()[0]);

        // The budget is the caller's to set.
        Assert.Throws<SqlQueryException>(() => InMemorySqlEngine.Execute(SqlQuery.Parse("SELECT * FROM User a JOIN User b"), Users, Messages, Me, 100, maxCombinations: 8));
        Assert.Equal(9, InMemorySqlEngine.Execute(SqlQuery.Parse("SELECT * FROM User a JOIN User b"), Users, Messages, Me, 100, maxCombinations: 9).Rows.Count);
    }

    [Fact]
    public void Comparisons_with_NULL_are_unknown_and_WHERE_keeps_only_true()
    {
        Expect("SELECT name FROM User WHERE name <> 'me'", "zed");
        Expect("SELECT name FROM User WHERE NOT (name = 'me')", "zed");
        Expect("SELECT name FROM User WHERE name = 'me' OR online", "me", null, "zed");
        Expect("SELECT name FROM User WHERE NOT (name = 'x' AND online)", "me", "zed");
        Expect("SELECT name FROM User WHERE (name = 'x') IS NULL", [null]);
        Expect("SELECT name FROM User WHERE name IS NULL", [null]);
        Expect("SELECT name FROM User WHERE name IS NOT NULL ORDER BY name", "me", "zed");
    }

    [Theory]
    [InlineData("SELECT * FROM Message WHERE text = 'a'", true)]
    [InlineData("SELECT * FROM Message WHERE 'a' = text AND offset > 3", true)]
    [InlineData("SELECT * FROM Message WHERE sender = :sender", true)]
    [InlineData("SELECT * FROM Message WHERE offset = 2", true)]
    [InlineData("SELECT * FROM Message WHERE offset > 1 AND sender = 0xff000000000000000000000000000000000000000000000000000000000000bb", true)]
    [InlineData("SELECT * FROM Message WHERE text = 'a' OR offset = 2", false)]
    [InlineData("SELECT * FROM Message WHERE NOT (text = 'a')", false)]
    [InlineData("SELECT * FROM Message", false)]
    [InlineData("SELECT * FROM User WHERE name = 'me'", true)]
    [InlineData("SELECT * FROM User WHERE online = false AND identity = :sender", true)]
    [InlineData("SELECT * FROM User WHERE name <> 'me'", false)]
    public void An_equality_key_never_excludes_a_row_its_query_matches(string text, bool keyed)
    {
        var query = SqlQuery.ParseSubscription(text);
        var key = query.EqualityKey(Me);
        Assert.Equal(keyed, key is not null);
        if (key is not { } k) return;
        var messages = Messages.Where(m => query.Tables[0] == "Message" && InMemorySqlEngine.Matches(query, m, Me)).ToList();
        var users = Users.Where(u => query.Tables[0] == "User" && InMemorySqlEngine.Matches(query, u, Me)).ToList();
        Assert.True(messages.Count + users.Count > 0, "each keyed case matches some row, or it would show nothing");
        Assert.All(messages, m => Assert.Equal(k.Value, SqlQuery.ColumnValue(m, k.Column)));
        Assert.All(users, u => Assert.Equal(k.Value, SqlQuery.ColumnValue(u, k.Column)));
        // And rows with another value in that column never match.
        Assert.DoesNotContain(Messages, m => query.Tables[0] == "Message" && !Equals(SqlQuery.ColumnValue(m, k.Column), k.Value) && InMemorySqlEngine.Matches(query, m, Me));
        Assert.DoesNotContain(Users, u => query.Tables[0] == "User" && !Equals(SqlQuery.ColumnValue(u, k.Column), k.Value) && InMemorySqlEngine.Matches(query, u, Me));
    }

    [Fact]
    public void NULLs_sort_last_ascending_and_first_descending()
    {
        Expect("SELECT name FROM User ORDER BY name", "me", "zed", null);
        Expect("SELECT name FROM User ORDER BY name DESC", null, "zed", "me");
    }

    [Fact]
    public void Text_orders_by_code_point_and_identities_bytewise()
    {
        // UTF-16 ordinal order would put the emoji (a surrogate pair, 0xD83D…) before U+FF3A.
        Expect("SELECT text FROM Message ORDER BY text", "a", "a", "Ｚ", "😀");
        Expect("SELECT text FROM Message WHERE text > 'Ｚ'", "😀");
        Expect("SELECT identity FROM User ORDER BY identity", Me, Third, Other);
        Expect("SELECT identity FROM User WHERE identity > 0x8000000000000000000000000000000000000000000000000000000000000000", Other);
    }

    [Fact]
    public void Code_point_comparison_matches_comparing_the_utf8_bytes()
    {
        var random = new Random(7);
        string Word() => string.Concat(Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(4) switch
        {
            0 => "a",
            1 => "\uFF3A",
            2 => "😀",
            _ => "\uE000",
        }));
        bool Holds(string condition) => Run($"SELECT COUNT(*) FROM User WHERE {condition}").Rows[0][0] is not 0ul;
        for (var i = 0; i < 1000; i++)
        {
            var (a, b) = (Word(), Word());
            var expected = Math.Sign(Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b)));
            var actual = Holds($"'{a}' < '{b}'") ? -1 : Holds($"'{a}' = '{b}'") ? 0 : 1;
            Assert.True(expected == actual, $"'{a}' vs '{b}': expected {expected}, got {actual}");
        }
    }

    [Fact]
    public void Without_ORDER_BY_rows_come_in_primary_key_order()
    {
        Expect("SELECT * FROM User", Me, Third, Other);
        Expect("SELECT offset FROM Message", 1ul, 2ul, 3ul, 4ul);
        Expect("SELECT offset FROM Message ORDER BY text", 3ul, 4ul, 1ul, 2ul);
    }

    [Fact]
    public void Joins_match_rows_of_both_tables_on_the_columns()
    {
        var result = Run("SELECT u.name, m.text FROM Message m JOIN User u ON u.identity = m.sender WHERE m.sender = :sender");
        Assert.Equal(["me|Ｚ", "me|a"], result.Rows.Select(r => $"{r[0]}|{r[1]}"));
        Assert.Equal(4ul, Run("SELECT COUNT(*) FROM Message m JOIN User u ON u.identity = m.sender").Rows.Single()[0]);
        Assert.Equal(6ul, Run("SELECT COUNT(*) FROM Message a JOIN Message b ON a.text = b.text").Rows.Single()[0]);
        Assert.Equal(2ul, Run("SELECT COUNT(*) FROM User a JOIN User b ON a.name = b.name").Rows.Single()[0]);
        Assert.Equal(5ul, Run("SELECT COUNT(*) FROM User a JOIN User b ON a.online = b.online").Rows.Single()[0]);
    }

    [Fact]
    public void Limit_offset_and_the_row_cap()
    {
        Expect("SELECT offset FROM Message LIMIT 2 OFFSET 1", 2ul, 3ul);
        Expect("SELECT offset FROM Message OFFSET 3 LIMIT 10", 4ul);
        Expect("SELECT offset FROM Message OFFSET 9223372036854775807");
        Expect("SELECT COUNT(*) FROM Message LIMIT 0");

        var capped = Run("SELECT * FROM Message", rowCap: 3);
        Assert.True(capped.Truncated);
        Assert.Equal([1ul, 2ul, 3ul], capped.Rows.Select(r => r[3]));
        Assert.False(Run("SELECT * FROM Message", rowCap: 4).Truncated);
        Assert.False(Run("SELECT * FROM Message LIMIT 3", rowCap: 3).Truncated);
        Assert.Throws<ArgumentOutOfRangeException>(() => Run("SELECT * FROM User", rowCap: 0));
    }

    [Fact]
    public void Timestamps_compare_as_instants()
    {
        Expect("SELECT offset FROM Message WHERE sent = '2026-01-13T13:00:01+01:00'", 2ul);
        Expect("SELECT offset FROM Message WHERE sent >= '2026-01-13T12:00:01.000001Z'", 3ul, 4ul);
        Expect("SELECT sent FROM Message WHERE offset = 1", T0);
    }

    [Fact]
    public void Matches_evaluates_the_WHERE_of_a_single_table_query_against_one_row()
    {
        var mine = SqlQuery.ParseSubscription("SELECT * FROM Message WHERE sender = :sender AND text <> 'a'");
        Assert.True(InMemorySqlEngine.Matches(mine, Messages[0], Me));
        Assert.False(InMemorySqlEngine.Matches(mine, Messages[0], Other));
        Assert.False(InMemorySqlEngine.Matches(mine, Messages[2], Me));

        var named = SqlQuery.Parse("SELECT * FROM User WHERE name <> 'zed'");
        Assert.True(InMemorySqlEngine.Matches(named, Users[1], Me));
        Assert.False(InMemorySqlEngine.Matches(named, Users[0], Me));
        Assert.False(InMemorySqlEngine.Matches(named, Users[2], Me)); // NULL name: unknown, so no
        Assert.True(InMemorySqlEngine.Matches(SqlQuery.Parse("SELECT * FROM user"), Users[2], Me));

        var wrongTable = Assert.Throws<SqlQueryException>(() => InMemorySqlEngine.Matches(named, Messages[0], Me));
        Assert.Contains("a Message row can only be matched against a query on Message alone", wrongTable.Message);
        Assert.Throws<SqlQueryException>(() => InMemorySqlEngine.Matches(
            SqlQuery.Parse("SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender"), Users[0], Me));
    }

    [Fact]
    public void Values_print_as_spacetimedb_prints_them()
    {
        Assert.Equal("0x00000000000000000000000000000000000000000000000000000000000000aa", SqlValueFormat.Format(Me));
        Assert.Equal("2026-01-13T12:00:00.000000+00:00", SqlValueFormat.Format(T0));
        Assert.Equal("2026-01-13T12:00:00.123456+00:00", SqlValueFormat.Format(T0.AddTicks(1_234_560)));
        Assert.Equal("\"a \\\"quoted\\\" \\\\ line\\nnext\\u0001 😀\"", SqlValueFormat.Format("a \"quoted\" \\ line\nnext\u0001 😀"));
        Assert.Equal("true", SqlValueFormat.Format(true));
        Assert.Equal("false", SqlValueFormat.Format(false));
        Assert.Equal("18446744073709551615", SqlValueFormat.Format(ulong.MaxValue));
        Assert.Equal("null", SqlValueFormat.Format(null));
    }

    [Fact]
    public void Results_survive_orleans_serialization()
    {
        var services = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(SqlResult).Assembly)).BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var result = Run("SELECT u.identity, u.name, u.online, m.sent, m.text, m.offset FROM User u JOIN Message m ON u.identity = m.sender");
        var copy = serializer.Deserialize<SqlResult>(serializer.SerializeToArray(result))!;
        Assert.Equal(result.Columns, copy.Columns);
        Assert.Equal(result.Truncated, copy.Truncated);
        Assert.Equal(result.Rows.Select(SqlTestData.Show), copy.Rows.Select(SqlTestData.Show));
    }
}
