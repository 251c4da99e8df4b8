using Chat.Grains;

namespace Chat.Tests;

/// <summary>Caller-chosen text in logs and error statuses: escaped and bounded; strangers' records budgeted. Pure.</summary>
public class LogTextTests
{
    [Fact]
    public void Control_characters_are_shown_escaped_and_nothing_else_changes()
    {
        Assert.Equal("\\x1B[2J\\r\\nINFO: fake", LogText.Escape("\u001b[2J\r\nINFO: fake"));
        Assert.Equal("a\\tb\\x00\\x7F\\x85\\u2028\\u202E\\u2066c", LogText.Escape("a\tb\0\u007f\u0085\u2028\u202e\u2066c"));
        Assert.Equal("lone \\uD800 surrogate", LogText.Escape("lone \ud800 surrogate"));
        const string plain = "Zoë 李小龍 😀 C:\\path [ok]";
        Assert.Same(plain, LogText.Escape(plain));
    }

    [Fact]
    public void Texts_are_cut_at_whole_characters_with_an_ellipsis()
    {
        Assert.Equal("abc", LogText.Bound("abc", 3));
        Assert.Equal("ab…", LogText.Bound("abcd", 3));
        Assert.Equal("😀😀…", LogText.Bound("😀😀😀😀", 3)); // never half a surrogate pair
        var name = LogText.ReducerName("\u001b[2J" + new string('x', 30_000));
        Assert.Equal(LogText.MaxReducerName, name.EnumerateRunes().Count());
        Assert.StartsWith("\\x1B[2J", name);
        Assert.EndsWith("…", name);
        Assert.Equal(LogText.MaxStatus, LogText.Status(new string('e', 5000)).Length);
    }

    [Fact]
    public void Others_get_their_burst_then_one_summary_line_counting_the_rest()
    {
        var t0 = new DateTime(2026, 1, 13, 12, 0, 0, DateTimeKind.Utc);
        var quota = new OthersLogQuota(perMinute: 10, burst: 100);
        var admitted = Enumerable.Range(0, 3000).Count(_ => quota.Admit(t0));
        Assert.Equal(100, admitted);
        Assert.Equal(2900, quota.Suppressed);
        Assert.Equal("2900 more failed calls by identities other than the owner suppressed between 2026-01-13T12:00:00Z and 2026-01-13T12:01:00Z " +
                     "(the log takes at most 10 a minute from them, in bursts of 100: Chat:Logs:OthersPerMinute, OthersBurst)",
            quota.TakeSummary(t0.AddMinutes(1)));
        Assert.Null(quota.TakeSummary(t0.AddMinutes(2)));
        // The bucket refills: a minute later ten more are written.
        Assert.Equal(10, Enumerable.Range(0, 50).Count(_ => quota.Admit(t0.AddMinutes(1))));
        Assert.True(Enumerable.Range(0, 1000).All(_ => new OthersLogQuota(0, 0).Admit(t0))); // 0 turns the budget off
    }

    [Fact]
    public void Chat_logs_prints_each_record_on_one_line_without_terminal_controls()
    {
        var record = new Chat.Api.V1.LogRecord
        {
            Timestamp = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(new DateTime(2026, 1, 13, 12, 0, 0, DateTimeKind.Utc)),
            Level = Chat.Api.V1.LogLevel.Error,
            Reducer = "x",
            Message = "No reducer '\u001b[2J'\r\n2026-01-13T12:00:00.000000Z  INFO: fake",
        };
        var line = Chat.Cli.DatabaseCommands.LogLine(record, new Chat.Cli.Colors(false));
        Assert.Equal("2026-01-13T12:00:00.000000Z ERROR: No reducer '\\x1B[2J'\\r\\n2026-01-13T12:00:00.000000Z  INFO: fake", line);
    }
}
