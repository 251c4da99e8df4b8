namespace Chat.Tests;

public class IdentityTests
{
    private const string Hex = "c200f1b7a2b9d9b1f2e3a4b5c6d7e8f90123456789abcdef0011223344556677";

    [Theory]
    [InlineData(Hex)]
    [InlineData("0x" + Hex)]
    [InlineData("0X" + Hex)]
    [InlineData("C200F1B7A2B9D9B1F2E3A4B5C6D7E8F90123456789ABCDEF0011223344556677")]
    public void Parses_hex_with_an_optional_0x_prefix_and_prints_lowercase(string text)
    {
        Assert.True(Identity.TryParse(text, out var identity, out _));
        Assert.Equal(Hex, identity.ToString());
    }

    [Fact]
    public void Round_trips_through_32_bytes()
    {
        var identity = Identity.Random();
        var bytes = identity.ToBytes();
        Assert.Equal(32, bytes.Length);
        Assert.Equal(identity, Identity.FromBytes(bytes));
        Assert.Equal(Convert.ToHexStringLower(bytes), identity.ToString());
    }

    [Theory]
    [InlineData("", "An identity is 64 hex characters (optionally prefixed with 0x); got 0.")]
    [InlineData("abc", "An identity is 64 hex characters (optionally prefixed with 0x); got 3.")]
    [InlineData("zz00f1b7a2b9d9b1f2e3a4b5c6d7e8f90123456789abcdef0011223344556677", "An identity may contain only the hex digits 0-9 and a-f.")]
    public void Rejects_malformed_identities_with_a_reason(string text, string reason)
    {
        Assert.False(Identity.TryParse(text, out _, out var error));
        Assert.Equal(reason, error);
    }

    [Fact]
    public void Connection_ids_are_128_bit_and_unique() =>
        Assert.NotEqual(ConnectionId.New(), ConnectionId.New());

    [Theory]
    [InlineData("quickstart")]
    [InlineData("quickstart-chat")]
    [InlineData("a1-b2-c3")]
    public void Database_names_like_spacetimedbs_are_accepted(string name) => Assert.Null(DatabaseName.Validate(name));

    [Theory]
    [InlineData("")]
    [InlineData("Quickstart")]
    [InlineData("-leading")]
    [InlineData("trailing-")]
    [InlineData("double--hyphen")]
    [InlineData("under_score")]
    [InlineData("with space")]
    public void Other_database_names_are_refused(string name) => Assert.NotNull(DatabaseName.Validate(name));

    [Fact]
    public void Database_names_are_at_most_64_characters()
    {
        Assert.Null(DatabaseName.Validate(new string('a', 64)));
        Assert.NotNull(DatabaseName.Validate(new string('a', 65)));
    }
}
