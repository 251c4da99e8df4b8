using Chat.Grains;

namespace Chat.Tests;

/// <summary>Names that look alike share a uniqueness key; names may not hide invisible characters. Pure: no cluster.</summary>
public class NameKeysTests
{
    private static readonly ModuleSettings Defaults = ModuleSettings.Default;

    /// <summary>Each look-alike of "Alice" that the review found accepted next to the real one.</summary>
    public static TheoryData<string, string> LookAlikes => new()
    {
        { "\u0410lice", "Cyrillic capital A" },
        { "\uFF21lice", "fullwidth A" },
        { "\u0430lice", "Cyrillic small a" },
        { "\u0391lice", "Greek capital alpha" },
        { "Al\u0456ce", "Cyrillic i" },
        { "ALICE", "capitals" },
        { "\uFF21\uFF4C\uFF49\uFF43\uFF45", "all fullwidth" },
        { "\U0001D400lice", "mathematical bold A" },
        { "A1ice", "digit one for l" },
    };

    [Theory]
    [MemberData(nameof(LookAlikes))]
    public void Look_alikes_share_the_key_of_the_name_they_imitate(string lookAlike, string what)
    {
        Assert.True(ChatReducers.ValidateName(lookAlike, Defaults).IsOk, what);
        Assert.Equal(NameKeys.Key("Alice"), NameKeys.Key(ChatReducers.ValidateName(lookAlike, Defaults).Value!));
    }

    [Fact]
    public void Keys_join_white_space_and_look_alike_letter_pairs_and_carry_their_version()
    {
        Assert.Equal(NameKeys.Key("Mary Ann"), NameKeys.Key("Mary\u00A0\u00A0Ann")); // no-break spaces, two of them
        Assert.Equal(NameKeys.Key("Sam"), NameKeys.Key("Sarn"));
        Assert.Equal(NameKeys.Key("Grüße"), NameKeys.Key("GRÜSSE"));
        Assert.Equal(NameKeys.Key("Jean-Luc"), NameKeys.Key("Jean\u2013Luc"));
        Assert.NotEqual(NameKeys.Key("Alice"), NameKeys.Key("Alicia"));
        Assert.NotEqual(NameKeys.Key("Zoë"), NameKeys.Key("Zoe")); // a different letter, not a look-alike
        Assert.StartsWith(NameKeys.Version, NameKeys.Key("Alice"));
        Assert.Null(ChatReducers.UniqueNameKey("Alice", Defaults));
        Assert.Equal(NameKeys.Key("Alice"), ChatReducers.UniqueNameKey("Alice", Defaults with { UniqueNames = true }));
    }

    [Theory]
    [InlineData("Ali\u200Dce", 0x200D)] // zero-width joiner
    [InlineData("Ali\u200Cce", 0x200C)] // zero-width non-joiner
    [InlineData("Ali\u034Fce", 0x034F)] // combining grapheme joiner
    [InlineData("Alice\u3164", 0x3164)] // Hangul filler
    [InlineData("\u115FAlice", 0x115F)] // Hangul choseong filler
    [InlineData("Alice\uFE0F", 0xFE0F)] // a variation selector after a letter
    [InlineData("Alice\u2800", 0x2800)] // blank braille pattern
    public void Invisible_characters_are_refused_in_names(string name, int codePoint)
    {
        var outcome = ChatReducers.ValidateName(name, Defaults);
        Assert.Equal(ReducerStatus.InvalidArgument, outcome.Status);
        Assert.Equal($"Names must not contain invisible characters such as joiners, fillers or variation selectors (found U+{codePoint:X4})", outcome.Error);
    }

    [Theory]
    [InlineData("Alice\uFEFF", "U+FEFF")] // byte order mark
    [InlineData("\u202EAlice", "U+202E")] // bidi override
    [InlineData("Al\u2066ice", "U+2066")] // bidi isolate
    [InlineData("Al\u00ADice", "U+00AD")] // soft hyphen
    public void Format_characters_are_refused_as_non_printable(string name, string codePoint) =>
        Assert.Equal($"Names must not contain control or other non-printable characters (found {codePoint})", ChatReducers.ValidateName(name, Defaults).Error);

    [Theory]
    [InlineData("Alice ")]
    [InlineData(" Alice")]
    [InlineData("Alice\u00A0")]
    [InlineData("\u3000Alice")]
    public void Names_may_not_start_or_end_with_white_space(string name)
    {
        var outcome = ChatReducers.ValidateName(name, Defaults);
        Assert.Equal(ReducerStatus.InvalidArgument, outcome.Status);
        Assert.Equal("Names must not start or end with white space", outcome.Error);
    }

    [Theory]
    [InlineData("family 👨‍👩‍👧")] // joiners between emoji
    [InlineData("I ❤️ tea")] // the emoji presentation selector after a symbol
    [InlineData("👍🏽 Bob")] // a skin-tone modifier
    [InlineData("Mary Ann")]
    public void Emoji_sequences_and_inner_spaces_stay_allowed(string name) =>
        Assert.True(ChatReducers.ValidateName(name, Defaults).IsOk, ChatReducers.ValidateName(name, Defaults).Error);

    [Fact]
    public void Messages_refuse_carriage_returns_as_the_readme_says()
    {
        var outcome = ChatReducers.ValidateMessage("hello\r\nINFO: fake", Defaults);
        Assert.Equal(ReducerStatus.InvalidArgument, outcome.Status);
        Assert.Equal("Messages must not contain control characters other than newline and tab (found U+000D, a carriage return: end lines with \\n alone)", outcome.Error);
        Assert.False(ChatReducers.ValidateMessage("a\u0085b", Defaults).IsOk); // NEL, a C1 control
        Assert.True(ChatReducers.ValidateMessage("line one\nline two\tindented", Defaults).IsOk);
    }
}
