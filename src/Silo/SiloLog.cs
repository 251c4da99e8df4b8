namespace Chat.Silo;

/// <summary>What the silo host logs while it starts and stops; source-generated so that a disabled level costs no formatting.</summary>
internal static partial class SiloLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Critical, Message = "Cannot start: {Reason}")]
    public static partial void CannotStart(this ILogger logger, string reason);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Critical,
        Message = "Cannot start: {Reason} Is the stack already running? Otherwise choose other ports with Kestrel__Endpoints__Grpc__Url / Kestrel__Endpoints__Http__Url.")]
    public static partial void PortTaken(this ILogger logger, string reason);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "Cluster certificate: {Certificate}")]
    public static partial void ClusterCertificate(this ILogger logger, string certificate);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Information,
        Message = "Chat is up: cluster {ClusterId}, silo {Silo} in namespace {Namespace}, PostgreSQL {Postgres}, gRPC gateway {Gateway}, HTTP {Http} (/healthz, /readyz, /metrics{Dashboard}). Press Ctrl+C to stop.")]
    public static partial void Up(this ILogger logger, string clusterId, string silo, string @namespace, string postgres, string? gateway, string? http, string dashboard);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "Stopping local PostgreSQL")]
    public static partial void StoppingLocalPostgres(this ILogger logger);
}
