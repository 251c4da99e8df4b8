using System.Security.Cryptography;
using System.Text;

namespace Chat;

/// <summary>
/// A client-chosen key that makes a reducer call safe to retry. The first call with a key that commits is recorded in
/// the same transaction as its effect; a later call by the same identity on the same database with the same key is
/// answered with that first result and changes nothing, for as long as the record is retained.
/// </summary>
public static class IdempotencyKey
{
    public const int MaxLength = 128;

    /// <summary>How long a committed call's key is remembered, unless configured otherwise.</summary>
    public static readonly TimeSpan DefaultRetention = TimeSpan.FromHours(24);

    /// <summary>Null when <paramref name="key"/> is usable (or absent), otherwise what is wrong with it.</summary>
    public static string? Problem(string? key)
    {
        if (string.IsNullOrEmpty(key)) return null;
        if (key.Length > MaxLength)
            return $"The idempotency key is {key.Length} characters long; at most {MaxLength} are allowed (a UUID is a good key).";
        foreach (var c in key)
            if (c is < '!' or > '~')
                return $"The idempotency key may hold only visible ASCII characters (no spaces or control characters); found U+{(int)c:X4}.";
        return null;
    }

    /// <summary>What a key was used for: a retry must repeat the same reducer with the same arguments.</summary>
    public static byte[] Fingerprint(string reducer, params string[] arguments)
    {
        var text = new StringBuilder(reducer);
        foreach (var argument in arguments) text.Append('\0').Append(argument);
        return SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()));
    }

    public static string Mismatch(string key, string reducer) =>
        $"The idempotency key '{key}' was already used for a different {reducer} call; a key may only be reused to retry " +
        "the very same call (same reducer, same arguments). Use a new key for a new call.";
}

/// <summary>A committed call recorded under its idempotency key.</summary>
[GenerateSerializer, Immutable]
public sealed record RecordedCall(
    [property: Id(0)] string Reducer,
    [property: Id(1)] byte[] Fingerprint,
    [property: Id(2)] DateTime At,
    [property: Id(3)] MessageRow? Message)
{
    /// <summary>The first call's result for a retry with the same key, or why the retry is refused.</summary>
    public ReducerResult Answer(string key, string reducer, byte[] fingerprint) =>
        Reducer == reducer && Fingerprint.AsSpan().SequenceEqual(fingerprint)
            ? ReducerResult.Committed(At, Message).AsReplay()
            : ReducerResult.Fail(ReducerStatus.InvalidArgument, IdempotencyKey.Mismatch(key, Reducer));
}
