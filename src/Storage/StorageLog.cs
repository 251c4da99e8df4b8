using Microsoft.Extensions.Logging;

namespace Chat.Storage;

/// <summary>What the storage layer logs; source-generated so that a disabled level costs no formatting.</summary>
internal static partial class StorageLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Applied schema migration {Version} ({Name})")]
    public static partial void AppliedMigration(this ILogger logger, int version, string name);
}
