using Chat.Sql;

namespace Chat.Tests.Sql;

/// <summary>
/// A join subscription taken apart (<see cref="SqlJoinPlan"/>) must give the distinct projected rows of the whole query,
/// and the one-table message queries it sends to PostgreSQL must keep every message it needs.
/// </summary>
public class SqlJoinPlanTests(SqlTestData data) : IClassFixture<SqlTestData>
{
    public static TheoryData<string> Subscriptions() => new()
    {
        "SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity WHERE u.name = 'alice'",
        "SELECT \"Message\".* FROM \"Message\" JOIN \"User\" ON \"Message\".\"sender\" = \"User\".\"identity\"",
        "SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender WHERE m.text = 'hi'",
        "SELECT a.* FROM User a JOIN User b ON a.name = b.name WHERE b.identity = :sender",
        "SELECT User.* FROM User JOIN Message WHERE Message.sender = :sender",
        "SELECT m.* FROM Message m CROSS JOIN User u WHERE m.sender = u.identity AND u.online AND m.sent > '2026-01-13T12:00:05Z'",
        "SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender WHERE NOT (m.text = 'hi') AND m.offset >= 3 AND u.name IS NOT NULL",
        "SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity WHERE u.name = m.text OR m.offset = 1e0",
        "SELECT b.* FROM User a JOIN User b WHERE a.online = b.online AND a.identity = :sender",
        "SELECT m.* FROM Message AS m JOIN User AS u ON u.identity = m.sender WHERE m.text = 'It''s' OR u.name < 'b'",
    };

    [Theory]
    [MemberData(nameof(Subscriptions))]
    public async Task The_plan_gives_the_distinct_projected_rows_of_the_query(string text)
    {
        var query = SqlQuery.ParseSubscription(text);
        var plan = query.JoinPlan!;
        var caller = SqlTestData.Alice;
        var users = data.UsersA.ToDictionary(u => u.Identity);
        var whole = data.InMemory(text).Rows;
        // What the messages-side query reads from PostgreSQL (database A).
        var read = plan.Shape == SqlJoinShape.UsersByUser ? [] : (await data.PostgresAsync(plan.MessageQuery(null))).Rows.Select(r => (ulong)r[3]!).ToHashSet();

        switch (plan.Shape)
        {
            case SqlJoinShape.MessagesByUser:
            {
                var expected = whole.Select(r => (ulong)r[3]!).Distinct().Order().ToList();
                var planned = data.MessagesA.Where(m => users.TryGetValue(m.Sender, out var u) && plan.Matches(m, u, caller)).Select(m => (ulong)m.Offset).Order().ToList();
                Assert.Equal(expected, planned);
                Assert.Subset(read, expected.ToHashSet());
                // Read by the senders that may match, as a snapshot does.
                var senders = data.UsersA.Where(u => plan.UserMayMatch(u, caller)).Select(u => u.Identity).ToList();
                var bySender = (await data.PostgresAsync(plan.MessageQuery(senders))).Rows.Select(r => (ulong)r[3]!).ToHashSet();
                Assert.Subset(bySender, expected.ToHashSet());
                break;
            }
            case SqlJoinShape.UsersByMessage:
            {
                var expected = whole.Select(r => (Identity)r[0]!).Distinct().OrderBy(i => i.ToString()).ToList();
                var matching = data.MessagesA.Where(m => plan.MessageMatches(m, caller)).ToList();
                Assert.Equal(matching.Select(m => (ulong)m.Offset).ToHashSet(), read);
                var planned = data.UsersA.Where(u => plan.UserMayMatch(u, caller) && (plan.Linked ? matching.Any(m => m.Sender == u.Identity) : matching.Count > 0))
                    .Select(u => u.Identity).OrderBy(i => i.ToString()).ToList();
                Assert.Equal(expected, planned);
                break;
            }
            default:
            {
                var expected = whole.Select(r => (Identity)r[0]!).Distinct().OrderBy(i => i.ToString()).ToList();
                Assert.Equal(expected, plan.Evaluate(data.UsersA, caller).OrderBy(i => i.ToString()).ToList());
                break;
            }
        }
    }

    [Fact]
    public void The_cases_cover_every_shape_and_rows()
    {
        var plans = ((IEnumerable<object[]>)Subscriptions()).Select(r => (string)r[0]).Select(t => (Text: t, Plan: SqlQuery.ParseSubscription(t).JoinPlan!)).ToList();
        Assert.Equal(Enum.GetValues<SqlJoinShape>().Order(), plans.Select(p => p.Plan.Shape).Distinct().Order());
        Assert.Contains(plans, p => p.Plan is { Shape: SqlJoinShape.UsersByMessage, Linked: false });
        Assert.True(plans.Count(p => data.InMemory(p.Text).Rows.Count > 0) >= plans.Count - 1);
    }

    [Theory]
    [InlineData("SELECT * FROM User u JOIN Message m ON u.identity = m.sender", "returns the rows of one table")]
    [InlineData("SELECT u.name FROM User u JOIN Message m ON u.identity = m.sender", "instead of *")]
    [InlineData("SELECT a.* FROM Message a JOIN Message b ON a.sender = b.sender", "cannot join Message with itself")]
    [InlineData("SELECT u.* FROM User u JOIN Message m ON u.identity = m.sender JOIN User v ON v.identity = m.sender", "at most two tables")]
    [InlineData("SELECT m.* FROM Message m JOIN User u WHERE u.online", "must link them by sender")]
    [InlineData("SELECT u.* FROM User u JOIN Message m ON u.name = m.text", "u.name")]
    [InlineData("SELECT a.* FROM User a JOIN User b WHERE a.online", "column equality")]
    [InlineData("SELECT m.* FROM Message m JOIN User u ON m.sender = u.identity LIMIT 3", "this query has LIMIT")]
    public void Joins_a_subscription_cannot_follow_are_refused_with_the_reason(string text, string why)
    {
        Assert.False(SqlQuery.Parse(text).IsSubscriptionShape);
        var error = Assert.Throws<SqlQueryException>(() => SqlQuery.ParseSubscription(text));
        Assert.StartsWith("A subscription must be SELECT * FROM one table [WHERE ...] or SELECT t.* FROM a JOIN b ON ... [WHERE ...]; ", error.Message);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }
}
