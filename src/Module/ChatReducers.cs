using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Chat.Grains;

/// <summary>A user as the reducers see it: the row plus the connections that keep it online.</summary>
public sealed record UserState(UserRow Row, ImmutableHashSet<ConnectionId> Connections);

/// <summary>Either a value or the reducer's error; the rules below return these instead of throwing.</summary>
public readonly record struct Outcome<T>(T? Value, ReducerStatus Status, string? Error)
{
    public bool IsOk => Status == ReducerStatus.Committed;
    public static implicit operator Outcome<T>(T value) => new(value, ReducerStatus.Committed, null);
}

/// <summary>Makes failed <see cref="Outcome{T}"/>s: a generic method beside the generic type rather than a static member of it (CA1000), as Task.FromResult sits beside Task{T}.</summary>
public static class Outcome
{
    public static Outcome<T> Fail<T>(ReducerStatus status, string error) => new(default, status, error);
}

/// <summary>
/// The chat module's rules: the seed's four reducers plus the validation it suggests.
/// Pure functions of (current state, arguments, settings, time): no Orleans, no SQL, so every rule
/// is tested on its own and the grains only load, call, and commit. Which reducers exist and who may call them, and
/// who may change a database or read its log: <see cref="ChatModule"/>.
/// </summary>
public static class ChatReducers
{
    public static Outcome<string> ValidateName(string? name, ModuleSettings settings)
    {
        if (string.IsNullOrEmpty(name))
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument, "Names must not be empty");
        if (!IsWellFormed(name))
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument, "Names must be valid Unicode text");
        name = name.Normalize(NormalizationForm.FormC);
        if (FirstUnprintable(name, allowLineBreaksAndTabs: false) is { } bad)
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument,
                $"Names must not contain control or other non-printable characters (found U+{bad:X4})");
        if (NameKeys.FirstInvisible(name) is { } invisible)
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument,
                $"Names must not contain invisible characters such as joiners, fillers or variation selectors (found U+{invisible:X4})");
        if (string.IsNullOrWhiteSpace(name))
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument, "Names must not be only white space");
        // Refused rather than trimmed: the name stored is the name sent, and "Alice " would otherwise pass for "Alice".
        if (Rune.IsWhiteSpace(Rune.GetRuneAt(name, 0)) || Rune.IsWhiteSpace(name.EnumerateRunes().Last()))
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument, "Names must not start or end with white space");
        var length = CodePoints(name);
        if (length > settings.MaxNameLength)
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument,
                $"Names must be at most {settings.MaxNameLength} characters long (this one has {length})");
        return name;
    }

    public static Outcome<string> ValidateMessage(string? text, ModuleSettings settings)
    {
        if (string.IsNullOrEmpty(text))
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument, "Messages must not be empty");
        if (!IsWellFormed(text))
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument, "Messages must be valid Unicode text");
        if (FirstUnprintable(text, allowLineBreaksAndTabs: true) is { } bad)
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument,
                $"Messages must not contain control characters other than newline and tab (found U+{bad:X4}{(bad == '\r' ? ", a carriage return: end lines with \\n alone" : "")})");
        var length = CodePoints(text);
        if (length > settings.MaxMessageLength)
            return Outcome.Fail<string>(ReducerStatus.InvalidArgument,
                $"Messages must be at most {settings.MaxMessageLength} characters long (this one has {length})");
        return text;
    }

    /// <summary>
    /// set_name: validate, then update the caller's row, which must exist. Renames are limited like messages (each is a
    /// durable write shown to every subscriber), with the same per-identity rate in a bucket of their own.
    /// </summary>
    public static Outcome<UserState> SetName(UserState? user, string? name, ModuleSettings settings, ref TokenBucket bucket, DateTime now)
    {
        var valid = ValidateName(name, settings);
        if (!valid.IsOk)
            return Outcome.Fail<UserState>(valid.Status, valid.Error!);
        if (user is null)
            return Outcome.Fail<UserState>(ReducerStatus.FailedPrecondition, "Cannot set name for unknown user");
        if (settings.RateLimited && !bucket.TryTake(now, settings.MessagesPerSecond, settings.MessageBurst))
            return Outcome.Fail<UserState>(ReducerStatus.ResourceExhausted,
                $"Too many name changes: at most {settings.MessagesPerSecond:0.##} per second with bursts of {settings.MessageBurst}; wait a moment and try again");
        return user with { Row = user.Row with { Name = valid.Value } };
    }

    /// <summary>
    /// The key that makes names unique when the database asks for it (null when names need not be unique): names that
    /// look alike (case, compatibility forms, Cyrillic and Greek look-alikes, invisible characters) share one; see <see cref="NameKeys"/>.
    /// </summary>
    public static string? UniqueNameKey(string name, ModuleSettings settings) =>
        settings.UniqueNames ? NameKeys.Key(name) : null;

    public static string NameTaken(string name) =>
        $"The name '{name}' is already taken (names that differ only in case, width or look-alike letters count as the same)";

    /// <summary>identity_connected: insert the user (no name, online) or mark the returning user online.</summary>
    public static UserState IdentityConnected(UserState? user, ReducerCaller caller)
    {
        var connections = (user?.Connections ?? []).Add(caller.ConnectionId ?? default);
        var row = user?.Row ?? new UserRow(caller.Identity, Name: null, Online: true);
        return new UserState(row with { Online = true }, connections);
    }

    /// <summary>
    /// identity_disconnected: the user goes offline when its last connection ends.
    /// An unknown user is not an error: the seed logs a warning and changes nothing.
    /// </summary>
    public static (UserState? User, string? Warning) IdentityDisconnected(UserState? user, ReducerCaller caller)
    {
        if (user is null)
            return (null, $"Disconnect event for unknown user with identity {caller.Identity}");
        var connections = user.Connections.Remove(caller.ConnectionId ?? default);
        return (new UserState(user.Row with { Online = !connections.IsEmpty }, connections), null);
    }

    /// <summary>
    /// send_message's checks, in the order a user would want to hear about them: the text itself,
    /// then whether the sender may send. The rate limit is consulted last so a rejected message costs no token.
    /// </summary>
    /// <remarks><paramref name="database"/> is the whole database's bucket: its ceiling holds however many identities send.</remarks>
    public static Outcome<string> SendMessage(string? text, UserRow? sender, ModuleSettings settings, ref TokenBucket bucket, ref TokenBucket database, DateTime now)
    {
        var valid = ValidateMessage(text, settings);
        if (!valid.IsOk)
            return valid;
        if (settings.RequireNameToSend && sender?.Name is null)
            return Outcome.Fail<string>(ReducerStatus.FailedPrecondition, "Set a name before sending messages");
        if (!settings.RateLimited)
            return valid;
        if (!bucket.TryTake(now, settings.MessagesPerSecond, settings.MessageBurst))
            return Outcome.Fail<string>(ReducerStatus.ResourceExhausted,
                $"Too many messages: at most {settings.MessagesPerSecond:0.##} per second with bursts of {settings.MessageBurst}; wait a moment and try again");
        if (settings.DatabaseMessagesPerSecond > 0 && !database.TryTake(now, settings.DatabaseMessagesPerSecond, settings.DatabaseMessageBurst))
        {
            bucket.Refund(settings.MessageBurst);
            return Outcome.Fail<string>(ReducerStatus.ResourceExhausted,
                $"This database is taking too many messages: at most {settings.DatabaseMessagesPerSecond:0.##} per second from everyone together, " +
                $"with bursts of {settings.DatabaseMessageBurst}; wait a moment and try again");
        }
        return valid;
    }

    /// <summary>The server timestamp of the next message: now at microsecond precision, but always after the previous one.</summary>
    public static DateTime NextTimestamp(DateTime now, DateTime previous)
    {
        var micros = TruncateToMicroseconds(now);
        return micros > previous ? micros : previous.AddTicks(TimeSpan.TicksPerMicrosecond);
    }

    public static DateTime TruncateToMicroseconds(DateTime time) =>
        new(time.Ticks - time.Ticks % TimeSpan.TicksPerMicrosecond, DateTimeKind.Utc);

    private static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) return false;
        }
        return true;
    }

    private static int CodePoints(string text)
    {
        var count = 0;
        foreach (var _ in text.EnumerateRunes()) count++;
        return count;
    }

    /// <summary>
    /// Controls, unassigned and private-use code points, line/paragraph separators, and format characters
    /// (invisible bidi overrides and the like) are unprintable; zero-width joiners stay, because emoji need them.
    /// </summary>
    private static int? FirstUnprintable(string text, bool allowLineBreaksAndTabs)
    {
        foreach (var rune in text.EnumerateRunes())
        {
            if (allowLineBreaksAndTabs && rune.Value is '\n' or '\t') continue;
            if (rune.Value is 0x200C or 0x200D) continue;
            switch (Rune.GetUnicodeCategory(rune))
            {
                case UnicodeCategory.Control:
                case UnicodeCategory.Format:
                case UnicodeCategory.OtherNotAssigned:
                case UnicodeCategory.PrivateUse:
                case UnicodeCategory.LineSeparator:
                case UnicodeCategory.ParagraphSeparator:
                    return rune.Value;
            }
        }
        return null;
    }
}
