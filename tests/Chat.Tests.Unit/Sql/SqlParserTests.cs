using System.Text;
using Chat.Sql;

namespace Chat.Tests.Sql;

/// <summary>The grammar, the binder's checks, and what a person is told when a query is wrong.</summary>
public class SqlParserTests
{
    private static string Canonical(string text) => SqlQuery.Parse(text).Syntax.ToString();

    private static SqlQueryException Error(string text) => Assert.Throws<SqlQueryException>(() => SqlQuery.Parse(text));

    [Theory]
    [InlineData("SELECT * FROM User", "SELECT * FROM User")]
    [InlineData("select * from user", "SELECT * FROM user")]
    [InlineData("SeLeCt * FrOm MESSAGE;", "SELECT * FROM MESSAGE")]
    [InlineData("SELECT u.* FROM User AS u", "SELECT u.* FROM User AS u")]
    [InlineData("SELECT u.* FROM User u", "SELECT u.* FROM User AS u")]
    [InlineData("SELECT name, u.online AS here FROM User u", "SELECT name, u.online AS here FROM User AS u")]
    [InlineData("SELECT COUNT(*) FROM Message", "SELECT COUNT(*) FROM Message")]
    [InlineData("SELECT count ( * ) as Total FROM Message", "SELECT COUNT(*) AS Total FROM Message")]
    [InlineData("SELECT * FROM User u JOIN Message m ON u.identity = m.sender",
        "SELECT * FROM User AS u JOIN Message AS m ON (u.identity = m.sender)")]
    [InlineData("SELECT * FROM User u INNER JOIN Message m ON u.identity = m.sender AND u.identity = m.sender JOIN User v ON v.identity = u.identity",
        "SELECT * FROM User AS u JOIN Message AS m ON ((u.identity = m.sender) AND (u.identity = m.sender)) JOIN User AS v ON (v.identity = u.identity)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1 OR offset = 2 AND NOT offset = 3",
        "SELECT * FROM Message WHERE ((offset = 1) OR ((offset = 2) AND (NOT (offset = 3))))")]
    [InlineData("SELECT * FROM Message WHERE (offset = 1 OR offset = 2) AND offset != 3 AND offset <> 4",
        "SELECT * FROM Message WHERE (((offset = 1) OR (offset = 2)) AND (offset <> 3) AND (offset <> 4))")]
    [InlineData("SELECT * FROM Message WHERE offset<1 OR offset>2 OR offset<=3 OR offset>=4",
        "SELECT * FROM Message WHERE ((offset < 1) OR (offset > 2) OR (offset <= 3) OR (offset >= 4))")]
    [InlineData("SELECT * FROM User WHERE NOT NOT online", "SELECT * FROM User WHERE (NOT (NOT online))")]
    [InlineData("SELECT * FROM User WHERE name IS NULL OR name IS NOT NULL",
        "SELECT * FROM User WHERE ((name IS NULL) OR (name IS NOT NULL))")]
    [InlineData("SELECT * FROM User WHERE NOT name IS NULL", "SELECT * FROM User WHERE (NOT (name IS NULL))")]
    [InlineData("SELECT * FROM User WHERE name = 'it''s' AND online = TRUE AND online <> false",
        "SELECT * FROM User WHERE ((name = 'it''s') AND (online = true) AND (online <> false))")]
    [InlineData("SELECT * FROM Message WHERE sender = :sender OR sender = :SENDER",
        "SELECT * FROM Message WHERE ((sender = :sender) OR (sender = :sender))")]
    [InlineData("SELECT * FROM Message WHERE sender = 0xABCDEF0000000000000000000000000000000000000000000000000000000001",
        "SELECT * FROM Message WHERE (sender = 0xabcdef0000000000000000000000000000000000000000000000000000000001)")]
    [InlineData("SELECT * FROM Message WHERE sender = x'abcdef0000000000000000000000000000000000000000000000000000000001'",
        "SELECT * FROM Message WHERE (sender = 0xabcdef0000000000000000000000000000000000000000000000000000000001)")]
    [InlineData("SELECT * FROM Message ORDER BY sent DESC, text ASC, offset", "SELECT * FROM Message ORDER BY sent DESC, text ASC, offset ASC")]
    [InlineData("SELECT * FROM Message ORDER BY offset LIMIT 5 OFFSET 10", "SELECT * FROM Message ORDER BY offset ASC LIMIT 5 OFFSET 10")]
    [InlineData("SELECT * FROM Message OFFSET 10 LIMIT 5", "SELECT * FROM Message LIMIT 5 OFFSET 10")]
    [InlineData("SELECT * FROM Message OFFSET 10", "SELECT * FROM Message OFFSET 10")]
    [InlineData("SELECT offset FROM Message WHERE offset > 5 ORDER BY offset DESC OFFSET 2",
        "SELECT offset FROM Message WHERE (offset > 5) ORDER BY offset DESC OFFSET 2")]
    [InlineData("SELECT m.offset AS offset FROM Message AS m WHERE m.offset = 1 OFFSET 1",
        "SELECT m.offset AS offset FROM Message AS m WHERE (m.offset = 1) OFFSET 1")]
    [InlineData("SELECT \"name\" AS \"select\" FROM \"User\" AS \"from\" WHERE \"from\".\"online\"",
        "SELECT name AS select FROM User AS from WHERE from.online")]
    [InlineData("-- comment\nSELECT /* a /* nested */ comment */ * FROM User -- the end", "SELECT * FROM User")]
    [InlineData("\n\tSELECT\r\n*\nFROM\nUser\n;\n-- done\n", "SELECT * FROM User")]
    // SpacetimeDB's forms: aliases without AS, joins without ON, numbers in any of its notations
    [InlineData("select text t from Message", "SELECT text AS t FROM Message")]
    [InlineData("select m.text t, m.sent \"when\" from Message m", "SELECT m.text AS t, m.sent AS when FROM Message AS m")]
    [InlineData("select count(*) n from Message", "SELECT COUNT(*) AS n FROM Message")]
    [InlineData("SELECT User.* FROM User JOIN Message WHERE Message.sender = :sender",
        "SELECT User.* FROM User JOIN Message WHERE (Message.sender = :sender)")]
    [InlineData("SELECT * FROM User CROSS JOIN Message m WHERE identity = m.sender",
        "SELECT * FROM User CROSS JOIN Message AS m WHERE (identity = m.sender)")]
    [InlineData("SELECT * FROM User a INNER JOIN User b JOIN Message m ON m.sender = b.identity",
        "SELECT * FROM User AS a JOIN User AS b JOIN Message AS m ON (m.sender = b.identity)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1e3", "SELECT * FROM Message WHERE (offset = 1000)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1E3", "SELECT * FROM Message WHERE (offset = 1000)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1e+3", "SELECT * FROM Message WHERE (offset = 1000)")]
    [InlineData("SELECT * FROM Message WHERE offset > +1", "SELECT * FROM Message WHERE (offset > 1)")]
    [InlineData("SELECT * FROM Message WHERE + 1 < offset", "SELECT * FROM Message WHERE (1 < offset)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1.0", "SELECT * FROM Message WHERE (offset = 1)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1.5e1", "SELECT * FROM Message WHERE (offset = 15)")]
    [InlineData("SELECT * FROM Message WHERE offset = .5E1", "SELECT * FROM Message WHERE (offset = 5)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1000e-3", "SELECT * FROM Message WHERE (offset = 1)")]
    [InlineData("SELECT * FROM Message WHERE offset = 0.0e99999999999999999999", "SELECT * FROM Message WHERE (offset = 0)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1844674407370955161.5e1", "SELECT * FROM Message WHERE (offset = 18446744073709551615)")]
    [InlineData("SELECT * FROM Message LIMIT 1e1", "SELECT * FROM Message LIMIT 10")]
    [InlineData("SELECT * FROM Message LIMIT +5 OFFSET 2E0", "SELECT * FROM Message LIMIT 5 OFFSET 2")]
    public void Parses_the_grammar(string text, string canonical) => Assert.Equal(canonical, Canonical(text));

    [Fact]
    public void Output_columns_are_named_by_alias_or_column_and_typed()
    {
        Assert.Equal(
            [new SqlColumn("identity", SqlType.Identity), new SqlColumn("name", SqlType.String), new SqlColumn("online", SqlType.Bool)],
            SqlQuery.Parse("SELECT * FROM User").Columns);
        Assert.Equal(
            [new SqlColumn("sender", SqlType.Identity), new SqlColumn("sent", SqlType.Timestamp), new SqlColumn("text", SqlType.String), new SqlColumn("offset", SqlType.U64)],
            SqlQuery.Parse("select * from message").Columns);
        Assert.Equal([new SqlColumn("Who", SqlType.String), new SqlColumn("offset", SqlType.U64)],
            SqlQuery.Parse("SELECT u.NAME AS Who, m.OFFSET FROM User u JOIN Message m ON u.identity = m.sender").Columns);
        Assert.Equal([new SqlColumn("count", SqlType.U64)], SqlQuery.Parse("SELECT COUNT(*) FROM User").Columns);
        Assert.Equal([new SqlColumn("n", SqlType.U64)], SqlQuery.Parse("SELECT COUNT(*) AS n FROM User").Columns);
        Assert.Equal(7, SqlQuery.Parse("SELECT * FROM User JOIN Message ON identity = sender").Columns.Count);
        Assert.Equal(7, SqlQuery.Parse("SELECT * FROM User CROSS JOIN Message").Columns.Count);
        Assert.Equal([new SqlColumn("t", SqlType.String), new SqlColumn("at", SqlType.Timestamp)], SqlQuery.Parse("select text t, sent at from Message").Columns);
        Assert.Equal([new SqlColumn("n", SqlType.U64)], SqlQuery.Parse("select count(*) n from Message").Columns);
        Assert.Equal(["Message", "User"], SqlQuery.Parse("SELECT m.* FROM Message m JOIN User u ON u.identity = m.sender").Tables);
    }

    [Theory]
    [InlineData("SELECT * FROM User WHERE name = 'a' OFFSET 1")]
    [InlineData("SELECT * FROM Message WHERE offset = 1 ORDER BY offset")]
    [InlineData("SELECT text AS t FROM Message ORDER BY t")]
    [InlineData("SELECT * FROM Message WHERE sent > '2026-01-13T12:00:00Z' AND '2026-01-13T12:00:00+05:30' <= sent")]
    [InlineData("SELECT * FROM Message WHERE sent < '2026-01-13t12:00:00.123456789z'")]
    [InlineData("SELECT * FROM Message WHERE offset = 18446744073709551615")]
    [InlineData("SELECT * FROM User a JOIN User b ON a.identity = b.identity ORDER BY a.name")]
    [InlineData("SELECT a.name FROM User a JOIN User b ON a.identity = b.identity ORDER BY name")]
    public void Accepts(string text) => SqlQuery.Parse(text);

    // ---- errors: what was expected, and where ---------------------------------------------------

    [Theory]
    [InlineData("SELECT name, text WHERE", 1, 19, "Expected FROM after the column list at line 1, column 19, found 'WHERE'")]
    [InlineData("SELECT * FORM Message", 1, 10, "Expected FROM after the column list at line 1, column 10, found 'FORM'")]
    [InlineData("SELECT * FROM", 1, 14, "Expected a table name (User or Message) at line 1, column 14, found the end of the query")]
    [InlineData("SELECT FROM User", 1, 8, "Expected a column, * or COUNT(*) after SELECT at line 1, column 8, found 'FROM'")]
    [InlineData("SELECT name, FROM User", 1, 14, "Expected a column after ',' at line 1, column 14, found 'FROM'")]
    [InlineData("SELECT *\nFROM User\nWHERE name = = 'a'", 3, 14, "Expected a column, a value or '(' at line 3, column 14, found '='")]
    [InlineData("SELECT * FROM User WHERE (online", 1, 33, "Expected ')' at line 1, column 33 to close the '(' at line 1, column 26, found the end of the query")]
    [InlineData("SELECT * FROM User WHERE name IS 'x'", 1, 34, "Expected NULL or NOT NULL after IS at line 1, column 34, found the string 'x'")]
    [InlineData("SELECT * FROM User u JOIN Message m x", 1, 37, "Expected ON, JOIN, WHERE, ORDER BY, LIMIT, OFFSET or the end of the query at line 1, column 37, found 'x'")]
    [InlineData("SELECT * FROM User CROSS JOIN Message m x", 1, 41, "Expected JOIN, WHERE, ORDER BY, LIMIT, OFFSET or the end of the query at line 1, column 41, found 'x'")]
    [InlineData("SELECT * FROM User CROSS Message", 1, 26, "Expected JOIN after CROSS at line 1, column 26, found 'Message'")]
    [InlineData("SELECT * FROM User CROSS JOIN Message ON identity = sender", 1, 39, "CROSS JOIN takes no ON (at line 1, column 39); write JOIN Message ON ..., or put the condition in WHERE")]
    [InlineData("SELECT * FROM Message WHERE offset = 1.5", 1, 38, "The number 1.5 at line 1, column 38 is not a whole number; the only numbers here are U64 (offset, LIMIT, OFFSET), so a fraction can never match")]
    [InlineData("SELECT * FROM Message WHERE offset = 1e-1", 1, 38, "The number 1e-1 at line 1, column 38 is not a whole number; the only numbers here are U64 (offset, LIMIT, OFFSET), so a fraction can never match")]
    [InlineData("SELECT * FROM Message LIMIT 2.5", 1, 29, "The number 2.5 at line 1, column 29 is not a whole number; the only numbers here are U64 (offset, LIMIT, OFFSET), so a fraction can never match")]
    [InlineData("SELECT * FROM Message WHERE offset = 1e20", 1, 38, "The number 1e20 at line 1, column 38 is too large; numbers must fit in U64 (at most 18446744073709551615)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1e99999999999999999999", 1, 38, "The number 1e99999999999999999999 at line 1, column 38 is too large")]
    [InlineData("SELECT * FROM Message WHERE offset = 1 + 1", 1, 40, "Arithmetic is not supported (found '+' at line 1, column 40); compare a column with a value, as in offset > 1000")]
    [InlineData("SELECT * FROM Message WHERE offset - 1 = 2", 1, 36, "Arithmetic is not supported (found '-' at line 1, column 36)")]
    [InlineData("SELECT * FROM Message WHERE offset = +offset", 1, 38, "'+' at line 1, column 38 can only stand before a number, as in +1; arithmetic is not supported")]
    [InlineData("SELECT * FROM Message WHERE offset = 1e", 1, 38, "'1e' at line 1, column 38 is not a number (a number cannot run into letters)")]
    [InlineData("SELECT * FROM Message WHERE offset = 1.2.3", 1, 38, "'1.2.3' at line 1, column 38 is not a number")]
    [InlineData("SELECT * FROM User WHERE identity = 'abc'", 1, 37, "'abc' at line 1, column 37 is not an identity: expected 64 hex digits, optionally after 0x (this has 3 characters)")]
    [InlineData("SELECT * FROM User WHERE '0x12' = identity", 1, 26, "'0x12' at line 1, column 26 is not an identity: expected 64 hex digits, optionally after 0x (this has 2 characters)")]
    [InlineData("SELECT * FROM User ORDER name", 1, 26, "Expected BY after ORDER at line 1, column 26, found 'name'")]
    [InlineData("SELECT * FROM User LIMIT x", 1, 26, "Expected a whole number after LIMIT at line 1, column 26, found 'x'")]
    [InlineData("SELECT * FROM User u v", 1, 22, "Expected JOIN, WHERE, ORDER BY, LIMIT, OFFSET or the end of the query at line 1, column 22, found 'v'")]
    [InlineData("SELECT * FROM User WHERE online online", 1, 33, "Expected AND, OR, ORDER BY, LIMIT, OFFSET or the end of the query at line 1, column 33, found 'online'")]
    [InlineData("SELECT * FROM User LIMIT 1 LIMIT 2", 1, 28, "Expected OFFSET or the end of the query at line 1, column 28, found 'LIMIT'")]
    [InlineData("SELECT COUNT(name) FROM User", 1, 14, "Expected '*' in COUNT( ) (only COUNT(*) is supported) at line 1, column 14, found 'name'")]
    [InlineData("SELECT * FROM User AS WHERE", 1, 23, "Expected an alias after AS at line 1, column 23, found the keyword 'WHERE' (to use it as a name, put it in double quotes)")]
    public void Syntax_errors_say_what_was_expected_and_where(string text, int line, int column, string message)
    {
        var error = Error(text);
        Assert.StartsWith(message, error.Message);
        Assert.Equal((line, column), (error.Line, error.Column));
    }

    [Theory]
    [InlineData("SELECT * FROM Foo", "Unknown table 'Foo' at line 1, column 15; tables are User, Message")]
    [InlineData("SELECT bogus FROM Message", "Unknown column 'bogus' in table Message at line 1, column 8; columns are sender, sent, text, offset")]
    [InlineData("SELECT * FROM User WHERE u.name = 'a'", "Unknown table or alias 'u' at line 1, column 26; in scope here: User")]
    [InlineData("SELECT * FROM User u WHERE User.name = 'a'", "Unknown table or alias 'User' at line 1, column 28; in scope here: u")]
    [InlineData("SELECT m.bogus FROM Message m", "Unknown column 'bogus' in table Message at line 1, column 8; columns are sender, sent, text, offset")]
    [InlineData("SELECT bogus FROM User u JOIN Message m ON u.identity = m.sender",
        "Unknown column 'bogus' at line 1, column 8; u (User) has identity, name, online; m (Message) has sender, sent, text, offset")]
    [InlineData("SELECT name FROM User a JOIN User b ON a.identity = b.identity",
        "Column 'name' is ambiguous at line 1, column 8: it is in a (User) and b (User); qualify it, as in a.name")]
    [InlineData("SELECT * FROM User JOIN User ON identity = identity", "Table User appears twice (at line 1, column 25); give each an alias, as in FROM User a JOIN User b ON ...")]
    [InlineData("SELECT * FROM User x JOIN Message x ON x.identity = x.sender", "The alias 'x' is used twice (at line 1, column 27); give each table its own")]
    [InlineData("SELECT * FROM Message WHERE sent > 5", "Cannot compare Timestamp with U64 at line 1, column 34: sent > 5")]
    [InlineData("SELECT * FROM Message WHERE text = :sender", "Cannot compare String with Identity at line 1, column 34: text = :sender; write identities as 0x followed by 64 hex digits, or X'…'")]
    [InlineData("SELECT * FROM User WHERE online = 1", "Cannot compare Bool with U64 at line 1, column 33: online = 1")]
    [InlineData("SELECT * FROM User u JOIN Message m ON u.name = m.sent", "Cannot compare String with Timestamp at line 1, column 47: u.name = m.sent")]
    [InlineData("SELECT * FROM Message WHERE sent > 'yesterday'",
        "'yesterday' at line 1, column 36 is not a timestamp: expected RFC 3339, like '2026-01-13T12:00:00Z' or '2026-01-13T13:00:00.5+01:00'")]
    [InlineData("SELECT * FROM Message WHERE sent > '2026-02-30T00:00:00Z'", "'2026-02-30T00:00:00Z' at line 1, column 36 is not a timestamp")]
    [InlineData("SELECT * FROM Message WHERE sent > '2026-01-13T12:00:00'", "is not a timestamp")]
    [InlineData("SELECT * FROM User WHERE name", "WHERE needs a true/false condition, but name is String (at line 1, column 26)")]
    [InlineData("SELECT * FROM User WHERE online AND name", "AND needs a true/false condition, but name is String (at line 1, column 37)")]
    [InlineData("SELECT * FROM User WHERE NOT identity", "NOT needs a true/false condition, but identity is Identity")]
    [InlineData("SELECT * FROM User ORDER BY bogus", "Unknown column 'bogus' in table User at line 1, column 29")]
    [InlineData("SELECT * FROM User u JOIN Message m ON u.identity = m.sender ORDER BY x.name", "Unknown table or alias 'x' at line 1, column 71")]
    [InlineData("SELECT * FROM User ORDER BY 1", "ORDER BY needs a column, found 1 at line 1, column 29")]
    [InlineData("SELECT * FROM User a JOIN User b ON a.identity = b.identity ORDER BY name", "ORDER BY name is ambiguous at line 1, column 70")]
    [InlineData("SELECT COUNT(*) FROM User ORDER BY name", "ORDER BY cannot be used with COUNT(*), which returns a single row (at line 1, column 36)")]
    [InlineData("SELECT * FROM User u JOIN Message m ON u.identity = m.sender OR true", "JOIN ... ON must compare two columns with =")]
    [InlineData("SELECT * FROM User u JOIN Message m ON u.identity < m.sender", "JOIN ... ON must compare two columns with =")]
    [InlineData("SELECT * FROM User u JOIN Message m ON u.identity = :sender", "JOIN ... ON must compare two columns with =")]
    [InlineData("SELECT * FROM User u JOIN Message m ON m.sender = v.identity", "Unknown table or alias 'v'")]
    public void Binding_errors_name_what_is_wrong(string text, string message) => Assert.Contains(message, Error(text).Message);

    [Theory]
    [InlineData("INSERT INTO Message VALUES (1)", "INSERT")]
    [InlineData("update User set name = 'x'", "UPDATE")]
    [InlineData("DELETE FROM Message", "DELETE")]
    [InlineData("DROP TABLE Message", "DROP")]
    [InlineData("CREATE TABLE x (a int)", "CREATE")]
    [InlineData("ALTER TABLE Message ADD x int", "ALTER")]
    [InlineData("TRUNCATE Message", "TRUNCATE")]
    [InlineData("GRANT ALL ON Message TO public", "GRANT")]
    [InlineData("COPY Message TO '/tmp/x'", "COPY")]
    [InlineData("SET statement_timeout = 0", "SET")]
    [InlineData("BEGIN", "BEGIN")]
    [InlineData("commit", "COMMIT")]
    [InlineData("WITH x AS (SELECT * FROM User) SELECT * FROM x", "WITH")]
    [InlineData("EXPLAIN SELECT * FROM User", "EXPLAIN")]
    [InlineData("/* hide */ -- it\n  VACUUM", "VACUUM")]
    public void Only_select_is_allowed(string text, string statement)
    {
        var error = Error(text);
        Assert.StartsWith($"Only SELECT queries are allowed; '{statement}' statements are not", error.Message);
        Assert.True(error.Line >= 1 && error.Column >= 1);
    }

    [Theory]
    [InlineData("SELECT * FROM User; DROP TABLE chat.message", "Only one statement is allowed per query; found 'DROP' after ';' at line 1, column 21")]
    [InlineData("SELECT * FROM User;;", "Only one statement is allowed per query; found ';' after ';' at line 1, column 20")]
    [InlineData("SELECT * FROM User; SELECT * FROM Message", "Only one statement is allowed per query")]
    [InlineData("", "The query is empty; expected SELECT")]
    [InlineData("  -- nothing but a comment", "The query is empty; expected SELECT")]
    [InlineData("(SELECT * FROM User)", "Expected SELECT at the start of the query (only SELECT queries are allowed) at line 1, column 1, found '('")]
    [InlineData("SELECT * FROM User WHERE name = 'open", "The string that starts at line 1, column 33 never ends: expected a closing '")]
    [InlineData("SELECT * FROM \"User", "The quoted name that starts at line 1, column 15 never ends")]
    [InlineData("SELECT * FROM User /* open", "The comment that starts at line 1, column 20 never ends: expected */")]
    [InlineData("SELECT * FROM \"\"", "Expected a name between the double quotes at line 1, column 15")]
    [InlineData("SELECT * FROM Message WHERE sender = 0x12", "'0x12' at line 1, column 38 is not an identity: an identity is 64 hex digits, this has 2")]
    [InlineData("SELECT * FROM Message WHERE sender = X'12'", "is not an identity: an identity is 64 hex digits, this has 2")]
    [InlineData("SELECT * FROM Message WHERE sender = 0xg000000000000000000000000000000000000000000000000000000000000000", "'g' is not a hex digit")]
    [InlineData("SELECT * FROM Message WHERE offset = 18446744073709551616", "The number 18446744073709551616 at line 1, column 38 is too large; numbers must fit in U64 (at most 18446744073709551615)")]
    [InlineData("SELECT * FROM Message WHERE offset = -1", "Negative numbers are not supported (at line 1, column 38)")]
    [InlineData("SELECT * FROM User WHERE identity = 'zz00000000000000000000000000000000000000000000000000000000000001'", "this has 64 characters, not all of them hex digits")]
    [InlineData("SELECT * FROM User WHERE identity = ' 0100000000000000000000000000000000000000000000000000000000000001'", "is not an identity")]
    [InlineData("SELECT * FROM User WHERE name = '0100000000000000000000000000000000000000000000000000000000000001' AND identity = name", "Cannot compare Identity with String")]
    [InlineData("SELECT * FROM Message WHERE offset = 12ab", "'12ab' at line 1, column 38 is not a number")]
    [InlineData("SELECT * FROM Message LIMIT 9223372036854775808", "LIMIT 9223372036854775808 at line 1, column 29 is too large; the largest is 9223372036854775807")]
    [InlineData("SELECT * FROM Message OFFSET -1", "OFFSET cannot be negative (at line 1, column 30)")]
    [InlineData("SELECT * FROM User WHERE name = NULL", "NULL can only be tested with IS NULL or IS NOT NULL (at line 1, column 33)")]
    [InlineData("SELECT * FROM Message WHERE 1 < offset < 5", "Comparisons cannot be chained (at line 1, column 40)")]
    [InlineData("SELECT * FROM User WHERE identity = :me", "Unknown parameter ':me' at line 1, column 37; the only parameter is :sender")]
    [InlineData("SELECT *, name FROM User", "'*' must be the only item in the column list (at line 1, column 8)")]
    [InlineData("SELECT name, * FROM User", "'*' must be the only item in the column list (at line 1, column 14)")]
    [InlineData("SELECT COUNT(*), name FROM User", "COUNT(*) must be the only item in the column list")]
    [InlineData("SELECT name, COUNT(*) FROM User", "COUNT(*) must be the only item in the column list")]
    [InlineData("SELECT * FROM User LEFT JOIN Message ON identity = sender", "Only inner joins are supported: write [INNER] JOIN table ON a = b (found 'LEFT' at line 1, column 20)")]
    [InlineData("SELECT * FROM User, Message", "Expected JOIN, WHERE, ORDER BY, LIMIT, OFFSET or the end of the query at line 1, column 19, found ','")]
    [InlineData("SELECT name FROM User GROUP BY name", "GROUP BY is not supported")]
    [InlineData("SELECT DISTINCT name FROM User", "DISTINCT is not supported (found 'DISTINCT' at line 1, column 8)")]
    [InlineData("SELECT * FROM User WHERE name LIKE 'a%'", "LIKE is not supported")]
    [InlineData("SELECT * FROM Message WHERE offset IN (1, 2)", "IN (...) is not supported")]
    [InlineData("SELECT * FROM Message WHERE offset BETWEEN 1 AND 2", "BETWEEN is not supported")]
    [InlineData("SELECT * FROM User UNION SELECT * FROM User", "UNION is not supported")]
    [InlineData("SELECT * FROM Message WHERE offset = 1 / 1", "Unexpected character '/' (U+002F) at line 1, column 40; arithmetic and other operators are not supported")]
    [InlineData("SELECT * FROM Message WHERE text = `x`", "Unexpected character '`' (U+0060) at line 1, column 36; strings use straight single quotes")]
    [InlineData("SELECT * FROM Message WHERE text = ‘x’", "Unexpected character '‘' (U+2018) at line 1, column 36")]
    [InlineData("SELECT * FROM Message WHERE text = ＇x＇", "Unexpected character '＇' (U+FF07)")]
    [InlineData("SELECT * FROM Message WHERE text = ʼxʼ", "Unexpected character 'ʼ' (U+02BC)")]
    [InlineData("ＳＥＬＥＣＴ * FROM User", "Unexpected character 'Ｓ' (U+FF33) at line 1, column 1")]
    [InlineData("SELECT * FROM User WHERE online == true", "Expected a column, a value or '(' at line 1, column 34, found '='")]
    [InlineData("SELECT * FROM User WHERE ! online", "Unexpected character '!' (U+0021) at line 1, column 26; for 'not equal' write != or <>")]
    [InlineData("SELECT * FROM pg_catalog.pg_user", "Expected JOIN, WHERE, ORDER BY, LIMIT, OFFSET or the end of the query at line 1, column 25, found '.'")]
    [InlineData("SELECT * FROM chat.message", "found '.'")]
    [InlineData("SELECT * FROM Message WHERE database_id = 1", "Unknown column 'database_id' in table Message")]
    [InlineData("SELECT name_key FROM User", "Unknown column 'name_key' in table User")]
    public void Malformed_queries_are_refused_with_a_reason(string text, string message) => Assert.Contains(message, Error(text).Message);

    [Fact]
    public void Positions_count_lines_and_characters_not_bytes_or_utf16_units()
    {
        var error = Error("SELECT *\r\nFROM User\n  WHERE name = '😀😀' AND bogus");
        Assert.Equal((3, 25), (error.Line, error.Column));
        Assert.Contains("at line 3, column 25", error.Message);
    }

    // ---- limits against abuse ---------------------------------------------------------------------

    [Fact]
    public void Queries_up_to_SpacetimeDBs_50000_bytes_are_taken_and_longer_ones_refused()
    {
        Assert.Equal(50_000, SqlQuery.MaxTextBytes);
        const string select = "SELECT * FROM User -- ";
        SqlQuery.Parse(select + new string('a', SqlQuery.MaxTextBytes - select.Length));
        Assert.Equal("The query is 50001 bytes long in UTF-8; the limit is 50000 bytes",
            Error(select + new string('a', SqlQuery.MaxTextBytes - select.Length + 1)).Message);
        Assert.Equal("The query is 60022 bytes long in UTF-8; the limit is 50000 bytes", Error(select + new string('a', 60_000)).Message);

        // Bytes, not characters: 20,000 emoji are 40,000 UTF-16 units but 80,000 bytes.
        Assert.Equal("The query is 80022 bytes long in UTF-8; the limit is 50000 bytes",
            Error(select + string.Concat(Enumerable.Repeat("😀", 20_000))).Message);
        // The longest query still fits one connection's subscription text (65,536 characters) and one gRPC request (64 KiB).
        Assert.True(SqlQuery.MaxTextBytes < 65_536 - 1024);
    }

    [Fact]
    public void A_long_query_of_many_conditions_parses_and_translates()
    {
        var terms = string.Join(" OR ", Enumerable.Range(0, 2_500).Select(i => $"offset = {i}e0"));
        var text = "SELECT * FROM Message WHERE " + terms;
        Assert.InRange(Encoding.UTF8.GetByteCount(text), 40_000, SqlQuery.MaxTextBytes);
        var statement = PostgresTranslator.Translate(SqlQuery.Parse(text), 1, Identity.Parse(new string('0', 64)));
        Assert.Equal(2_501, statement.Parameters.Count);
    }

    [Theory]
    [InlineData(65)]
    [InlineData(4_900)]
    public void Deep_nesting_is_an_error_not_a_stack_overflow(int depth)
    {
        var error = Error("SELECT * FROM User WHERE " + new string('(', depth) + "online" + new string(')', depth));
        Assert.Contains($"nested too deeply at line 1, column {26 + SqlQuery.MaxDepth}: at most {SqlQuery.MaxDepth} levels", error.Message);
        Assert.Contains("nested too deeply", Error("SELECT * FROM User WHERE " + string.Concat(Enumerable.Repeat("NOT ", 2000)) + "online").Message);
        Assert.Contains("nested too deeply", Error("SELECT * FROM User WHERE " + string.Concat(Enumerable.Repeat("NOT (", 1000)) + "online").Message);
    }

    [Fact]
    public void Nesting_up_to_the_limit_is_fine_and_long_flat_chains_do_not_nest()
    {
        SqlQuery.Parse("SELECT * FROM User WHERE " + new string('(', SqlQuery.MaxDepth) + "online" + new string(')', SqlQuery.MaxDepth));
        var chain = SqlQuery.Parse("SELECT * FROM Message WHERE " + string.Join(" OR ", Enumerable.Range(0, 600).Select(i => $"offset={i}")));
        Assert.Equal(600, Assert.IsType<SqlOr>(chain.Syntax.Where).Operands.Count);
    }

    [Fact]
    public void String_literals_have_a_maximum_length()
    {
        SqlQuery.Parse($"SELECT * FROM Message WHERE text = '{string.Concat(Enumerable.Repeat("😀", SqlQuery.MaxStringLength))}'");
        var error = Error($"SELECT * FROM Message WHERE text = '{new string('a', SqlQuery.MaxStringLength + 1)}'");
        Assert.Contains($"strings are at most {SqlQuery.MaxStringLength}", error.Message);
    }

    [Theory]
    [InlineData("SELECT * FROM Message WHERE text = 'a\0b'", 1, 38)]
    [InlineData("SELECT * FROM Message -- \0\nWHERE true", 1, 26)]
    [InlineData("\0SELECT * FROM User", 1, 1)]
    public void NUL_characters_are_refused_wherever_they_are(string text, int line, int column)
    {
        var error = Error(text);
        Assert.Contains("NUL character", error.Message);
        Assert.Equal((line, column), (error.Line, error.Column));
    }

    [Fact]
    public void Broken_surrogates_are_refused() =>
        Assert.Contains("lone surrogate", Error("SELECT * FROM Message WHERE text = '\uD83D'").Message);

    [Fact]
    public void Overlong_names_are_refused()
    {
        Assert.Contains("names are at most", Error($"SELECT {new string('n', 200)} FROM User").Message);
        Assert.Contains("names are at most", Error($"SELECT \"{new string('n', 200)}\" FROM User").Message);
    }

    // ---- subscriptions ------------------------------------------------------------------------------

    [Theory]
    [InlineData("SELECT * FROM User")]
    [InlineData("SELECT * FROM Message WHERE sender = :sender AND offset > 10")]
    [InlineData("select u.* from user as u where u.online")]
    [InlineData("select u.* from user u where u.identity = '0100000000000000000000000000000000000000000000000000000000000001'")]
    [InlineData("SELECT * FROM Message WHERE offset > 1e3 AND offset <= +2E3")]
    [InlineData("SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender")]
    [InlineData("SELECT User.* FROM User JOIN Message WHERE Message.sender = :sender")]
    public void Single_table_select_star_is_a_subscription(string text)
    {
        Assert.True(SqlQuery.Parse(text).IsSubscriptionShape);
        SqlQuery.ParseSubscription(text).EnsureSubscriptionShape();
    }

    [Theory]
    [InlineData("SELECT name FROM User", "this query selects name instead of *")]
    [InlineData("SELECT COUNT(*) FROM User", "this query selects COUNT(*) instead of *")]
    [InlineData("SELECT * FROM User u JOIN Message m ON u.identity = m.sender", "A subscription over a join returns the rows of one table: write SELECT u.* or SELECT m.*, not *")]
    [InlineData("SELECT * FROM Message ORDER BY sent", "this query has ORDER BY")]
    [InlineData("SELECT * FROM Message LIMIT 10", "this query has LIMIT")]
    [InlineData("SELECT * FROM Message OFFSET 10", "this query has OFFSET")]
    public void Anything_else_is_not_a_subscription(string text, string why)
    {
        Assert.False(SqlQuery.Parse(text).IsSubscriptionShape);
        var error = Assert.Throws<SqlQueryException>(() => SqlQuery.ParseSubscription(text));
        Assert.Equal($"A subscription must be SELECT * FROM one table [WHERE ...] or SELECT t.* FROM a JOIN b ON ... [WHERE ...]; {why}", error.Message);
    }

    [Fact]
    public void A_hex_string_identity_keys_a_subscription_like_a_hex_literal()
    {
        var caller = Identity.Parse(new string('0', 64));
        const string hex = "ff00000000000000000000000000000000000000000000000000000000000002";
        var expected = SqlQuery.ParseSubscription($"SELECT * FROM User WHERE identity = 0x{hex}").EqualityKey(caller);
        Assert.NotNull(expected);
        Assert.Equal(expected, SqlQuery.ParseSubscription($"SELECT * FROM User WHERE identity = '{hex}'").EqualityKey(caller));
        Assert.Equal(expected, SqlQuery.ParseSubscription($"SELECT * FROM User WHERE '0x{hex.ToUpperInvariant()}' = identity").EqualityKey(caller));
        Assert.Equal(new SqlEqualityKey(3, 1000ul), SqlQuery.ParseSubscription("SELECT * FROM Message WHERE offset = 1e3").EqualityKey(caller));
    }
}
