namespace Chat;

/// <summary>
/// The per-database knobs for the validation the seed suggests. The defaults are safe and
/// never reject anything the quickstart walkthrough does.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ModuleSettings
{
    public static readonly ModuleSettings Default = new();

    /// <summary>Maximum name length, in Unicode characters (code points) after NFC normalisation.</summary>
    [Id(0)] public int MaxNameLength { get; init; } = 64;

    /// <summary>Maximum message length, in Unicode characters (code points).</summary>
    [Id(1)] public int MaxMessageLength { get; init; } = 4096;

    /// <summary>When on, two users of one database cannot hold names that differ only by case.</summary>
    [Id(2)] public bool UniqueNames { get; init; }

    /// <summary>When on, send_message is refused to identities that have not set a name.</summary>
    [Id(3)] public bool RequireNameToSend { get; init; }

    /// <summary>Sustained send_message rate per identity (token bucket refill per second); 0 turns the limit off.</summary>
    [Id(4)] public double MessagesPerSecond { get; init; } = 20;

    /// <summary>Token bucket capacity: how many messages an identity may send in a burst.</summary>
    [Id(5)] public int MessageBurst { get; init; } = 100;

    /// <summary>Whether send_message writes its text to the module log at info level, as the seed's reducer does.</summary>
    [Id(6)] public bool LogMessages { get; init; } = true;

    /// <summary>
    /// Sustained send_message rate of the whole database, every sender together, while the per-identity limit is on: fresh
    /// identities cost nothing to make, so without a ceiling they would multiply the per-identity rate. 0 turns it off.
    /// </summary>
    [Id(7)] public double DatabaseMessagesPerSecond { get; init; } = 100;

    /// <summary>How many messages the whole database may take in a burst.</summary>
    [Id(8)] public int DatabaseMessageBurst { get; init; } = 500;

    /// <summary>Whether rate limits apply at all: <see cref="MessagesPerSecond"/> 0 turns every one of them off.</summary>
    public bool RateLimited => MessagesPerSecond > 0;

    /// <returns>null when the settings make sense, otherwise why not.</returns>
    public string? Validate()
    {
        if (MaxNameLength is < 1 or > 1024) return "MaxNameLength must be between 1 and 1024.";
        if (MaxMessageLength is < 1 or > 1_000_000) return "MaxMessageLength must be between 1 and 1,000,000.";
        if (MessagesPerSecond < 0 || double.IsNaN(MessagesPerSecond) || double.IsInfinity(MessagesPerSecond))
            return "MessagesPerSecond must be 0 (no limit) or a positive number.";
        if (MessagesPerSecond > 0 && MessageBurst < 1) return "MessageBurst must be at least 1 when a rate limit is set.";
        if (DatabaseMessagesPerSecond < 0 || double.IsNaN(DatabaseMessagesPerSecond) || double.IsInfinity(DatabaseMessagesPerSecond))
            return "DatabaseMessagesPerSecond must be 0 (no ceiling) or a positive number.";
        if (DatabaseMessagesPerSecond > 0 && DatabaseMessageBurst < 1) return "DatabaseMessageBurst must be at least 1 when a ceiling is set.";
        return null;
    }
}

/// <summary>
/// What a publish asks to change: only the settings it names (proto3 presence), the rest stay as the database has them,
/// so republishing with one flag cannot reset the others.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SettingsChange
{
    [Id(0)] public int? MaxNameLength { get; init; }
    [Id(1)] public int? MaxMessageLength { get; init; }
    [Id(2)] public bool? UniqueNames { get; init; }
    [Id(3)] public bool? RequireNameToSend { get; init; }
    [Id(4)] public double? MessagesPerSecond { get; init; }
    [Id(5)] public int? MessageBurst { get; init; }
    [Id(6)] public bool? LogMessages { get; init; }
    [Id(7)] public double? DatabaseMessagesPerSecond { get; init; }
    [Id(8)] public int? DatabaseMessageBurst { get; init; }

    /// <summary>The settings after this change, starting from <paramref name="current"/>.</summary>
    public ModuleSettings ApplyTo(ModuleSettings current) => new()
    {
        MaxNameLength = MaxNameLength ?? current.MaxNameLength,
        MaxMessageLength = MaxMessageLength ?? current.MaxMessageLength,
        UniqueNames = UniqueNames ?? current.UniqueNames,
        RequireNameToSend = RequireNameToSend ?? current.RequireNameToSend,
        MessagesPerSecond = MessagesPerSecond ?? current.MessagesPerSecond,
        MessageBurst = MessageBurst ?? current.MessageBurst,
        LogMessages = LogMessages ?? current.LogMessages,
        DatabaseMessagesPerSecond = DatabaseMessagesPerSecond ?? current.DatabaseMessagesPerSecond,
        DatabaseMessageBurst = DatabaseMessageBurst ?? current.DatabaseMessageBurst,
    };

    /// <summary>Every setting given: the database ends up with exactly these.</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(all))]
    public static implicit operator SettingsChange?(ModuleSettings? all) => all is null ? null : new()
    {
        MaxNameLength = all.MaxNameLength,
        MaxMessageLength = all.MaxMessageLength,
        UniqueNames = all.UniqueNames,
        RequireNameToSend = all.RequireNameToSend,
        MessagesPerSecond = all.MessagesPerSecond,
        MessageBurst = all.MessageBurst,
        LogMessages = all.LogMessages,
        DatabaseMessagesPerSecond = all.DatabaseMessagesPerSecond,
        DatabaseMessageBurst = all.DatabaseMessageBurst,
    };
}
