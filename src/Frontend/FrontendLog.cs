using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend;

/// <summary>
/// Every console line of the gateway's gRPC and HTTP services, source-generated so that a disabled level costs no
/// formatting or boxing. EventIds 2000–2099 are this project's (Frontend.Delivery has 2100–2199), so a log filter or
/// alert can name a line without matching its text.
/// </summary>
internal static partial class FrontendLog
{
    // ---- gRPC Chat service: connections and reducer calls ----

    [LoggerMessage(EventId = 2000, Level = LogLevel.Information,
        Message = "Connection {ConnectionId} opened: identity {Identity}, database {Database}")]
    public static partial void ConnectionOpened(this ILogger logger, ConnectionId connectionId, Identity identity, string database);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information,
        Message = "Connection {ConnectionId} closed: identity {Identity}, database {Database}, because {Reason} (identity_disconnected: {Result})")]
    public static partial void ConnectionClosed(this ILogger logger, ConnectionId connectionId, Identity identity, string database, string reason, ReducerResult? result);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning,
        Message = "identity_disconnected for {ConnectionId} failed ({Reason}); trying again in the background")]
    public static partial void DisconnectFailedOnClose(this ILogger logger, ConnectionId connectionId, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning,
        Message = "identity_disconnected for connection {ConnectionId}: {Error}; trying again")]
    public static partial void DisconnectRefused(this ILogger logger, ConnectionId? connectionId, string? error);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning,
        Message = "identity_disconnected for connection {ConnectionId} failed ({Reason}); trying again")]
    public static partial void DisconnectFailed(this ILogger logger, ConnectionId? connectionId, string reason);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error,
        Message = "Gave up ending connection {ConnectionId} of {Identity}; it stays in chat.connection until this gateway stops")]
    public static partial void GaveUpEndingConnection(this ILogger logger, ConnectionId? connectionId, Identity identity);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning,
        Message = "Connection {ConnectionId} took nothing for {Grace}; aborting its call")]
    public static partial void ConnectionNotReading(this ILogger logger, ConnectionId connectionId, TimeSpan grace);

    /// <remarks>The reducer name and error are the caller's text: the caller passes them escaped and cut (LogText).</remarks>
    [LoggerMessage(EventId = 2007, Level = LogLevel.Information,
        Message = "Reducer {Reducer} failed with {Code}: {Error} (identity {Identity}, connection {ConnectionId}, database {Database})")]
    public static partial void ReducerFailed(this ILogger logger, string reducer, StatusCode code, string error, Identity identity, string connectionId, string database);

    // ---- gRPC failures the services did not expect ----

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning,
        Message = "{Method} for {Identity} failed: the cluster did not answer ({Reason})")]
    public static partial void ClusterDidNotAnswer(this ILogger logger, string method, object? identity, string reason);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Error,
        Message = "{Method} for {Identity} failed unexpectedly (reference {Reference})")]
    public static partial void CallFailedUnexpectedly(this ILogger logger, Exception exception, string method, object? identity, string reference);

    // ---- databases (gRPC Databases service) ----

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information,
        Message = "Database {Database} published by {Identity} (created: {Created}, clear: {Clear})")]
    public static partial void DatabasePublished(this ILogger logger, string database, Identity identity, bool created, bool clear);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Information, Message = "Database {Database} deleted by {Identity}")]
    public static partial void DatabaseDeleted(this ILogger logger, string database, Identity identity);

    // ---- token signing key ----

    [LoggerMessage(EventId = 2030, Level = LogLevel.Information,
        Message = "Generated a token signing key in {File}; set Chat:Auth:SigningKey in production")]
    public static partial void SigningKeyGenerated(this ILogger logger, string file);

    [LoggerMessage(EventId = 2031, Level = LogLevel.Warning,
        Message = "The token signing key {File} was readable by other users; it is now readable by its owner only")]
    public static partial void SigningKeyMadePrivate(this ILogger logger, string file);

    // ---- HTTP API ----

    [LoggerMessage(EventId = 2040, Level = LogLevel.Information,
        Message = "Database {Database} published over HTTP by {Identity} (created: {Created}, clear: {Clear})")]
    public static partial void DatabasePublishedOverHttp(this ILogger logger, string database, Identity identity, bool created, bool clear);

    [LoggerMessage(EventId = 2041, Level = LogLevel.Information, Message = "Database {Database} deleted over HTTP by {Identity}")]
    public static partial void DatabaseDeletedOverHttp(this ILogger logger, string database, Identity identity);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Warning,
        Message = "HTTP {Method} {Path} for {Identity} failed: the cluster did not answer ({Reason})")]
    public static partial void HttpClusterDidNotAnswer(this ILogger logger, string method, PathString path, object? identity, string reason);

    [LoggerMessage(EventId = 2043, Level = LogLevel.Error,
        Message = "HTTP {Method} {Path} for {Identity} failed unexpectedly (reference {Reference})")]
    public static partial void HttpCallFailedUnexpectedly(this ILogger logger, Exception exception, string method, PathString path, object? identity, string reference);

    /// <remarks>The reducer name and error are the caller's text: the caller passes them escaped and cut (LogText).</remarks>
    [LoggerMessage(EventId = 2044, Level = LogLevel.Information,
        Message = "Reducer {Reducer} failed over HTTP with {Status}: {Error} (identity {Identity}, database {Database})")]
    public static partial void ReducerFailedOverHttp(this ILogger logger, string reducer, ReducerStatus status, string error, Identity identity, string database);

    [LoggerMessage(EventId = 2045, Level = LogLevel.Warning,
        Message = "identity_disconnected for HTTP call {ConnectionId}: {Error}; trying again")]
    public static partial void HttpDisconnectRefused(this ILogger logger, ConnectionId? connectionId, string? error);

    [LoggerMessage(EventId = 2046, Level = LogLevel.Warning,
        Message = "identity_disconnected for HTTP call {ConnectionId} failed ({Reason}); trying again")]
    public static partial void HttpDisconnectFailed(this ILogger logger, ConnectionId? connectionId, string reason);

    [LoggerMessage(EventId = 2047, Level = LogLevel.Error,
        Message = "Gave up ending HTTP call connection {ConnectionId} of {Identity}; it stays in chat.connection until this gateway stops")]
    public static partial void GaveUpEndingHttpConnection(this ILogger logger, ConnectionId? connectionId, Identity identity);
}
