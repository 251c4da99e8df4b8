using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Chat;

/// <summary>
/// A 256-bit identity, as SpacetimeDB has: shown as 64 lowercase hex characters.
/// Four words rather than a byte array so that equality, hashing and Orleans
/// serialization are by value and allocation-free.
/// </summary>
[GenerateSerializer, Immutable]
public readonly record struct Identity(
    [property: Id(0)] ulong W0,
    [property: Id(1)] ulong W1,
    [property: Id(2)] ulong W2,
    [property: Id(3)] ulong W3)
{
    public const int ByteLength = 32;
    public const int HexLength = 64;

    public static Identity FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != ByteLength)
            throw new ArgumentException($"An identity is {ByteLength} bytes, not {bytes.Length}.", nameof(bytes));
        return new Identity(
            BinaryPrimitives.ReadUInt64BigEndian(bytes[..8]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[8..16]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[16..24]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));
    }

    public static Identity Random()
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        return FromBytes(bytes);
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[ByteLength];
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(0, 8), W0);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8, 8), W1);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(16, 8), W2);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(24, 8), W3);
        return bytes;
    }

    /// <summary>Accepts 64 hex characters, in either case, with an optional <c>0x</c> prefix.</summary>
    public static bool TryParse(string? text, out Identity identity, [NotNullWhen(false)] out string? error)
    {
        identity = default;
        var span = (text ?? "").AsSpan().Trim();
        if (span.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            span = span[2..];
        if (span.Length != HexLength)
        {
            error = $"An identity is {HexLength} hex characters (optionally prefixed with 0x); got {span.Length}.";
            return false;
        }
        Span<byte> bytes = stackalloc byte[ByteLength];
        if (Convert.FromHexString(span, bytes, out _, out _) != System.Buffers.OperationStatus.Done)
        {
            error = "An identity may contain only the hex digits 0-9 and a-f.";
            return false;
        }
        identity = FromBytes(bytes);
        error = null;
        return true;
    }

    public static Identity Parse(string text) =>
        TryParse(text, out var identity, out var error) ? identity : throw new FormatException(error);

    public override string ToString() => Convert.ToHexStringLower(ToBytes());

    /// <summary>The first 8 hex characters: what a chat client shows for a user without a name.</summary>
    public string ToShortString() => ToString()[..8];
}

/// <summary>A 128-bit id for one live connection of an identity.</summary>
[GenerateSerializer, Immutable]
public readonly record struct ConnectionId([property: Id(0)] Guid Value)
{
    public static ConnectionId New() => new(Guid.NewGuid());
    public override string ToString() => Value.ToString("N");
}
