using Microsoft.Extensions.Logging;

namespace Chat.Development;

/// <summary>What the local PostgreSQL helper logs; source-generated so that a disabled level costs no formatting.</summary>
internal static partial class DevelopmentLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Creating a local PostgreSQL cluster in {DataDirectory}")]
    public static partial void CreatingCluster(this ILogger logger, string dataDirectory);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning,
        Message = "The local PostgreSQL in {DataDirectory} lets every local user in without a password; setting one (in {PasswordFile}) and requiring it")]
    public static partial void RequiringPassword(this ILogger logger, string dataDirectory, string passwordFile);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "Using the local PostgreSQL already running on 127.0.0.1:{Port}")]
    public static partial void UsingRunningServer(this ILogger logger, int port);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "Started local PostgreSQL on 127.0.0.1:{Port} (data in {DataDirectory})")]
    public static partial void StartedServer(this ILogger logger, int port, string dataDirectory);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Stopping the local PostgreSQL cluster failed")]
    public static partial void StopFailed(this ILogger logger, Exception exception);
}
