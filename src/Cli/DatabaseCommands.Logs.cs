using Chat.Api.V1;
using Grpc.Core;

namespace Chat.Cli;

/// <summary><c>chat logs</c>: the module log, one escaped line (or JSON object) per record.</summary>
internal static partial class DatabaseCommands
{
    internal static LogLevel ParseLevel(string text) => text.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" => LogLevel.Info,
        "warn" or "warning" => LogLevel.Warn,
        "error" => LogLevel.Error,
        "panic" => LogLevel.Panic,
        _ => throw new UsageException($"--level is one of trace, debug, info, warn, error, panic, not '{text}'"),
    };

    internal static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "TRACE",
        LogLevel.Debug => "DEBUG",
        LogLevel.Info => "INFO",
        LogLevel.Warn => "WARN",
        LogLevel.Error => "ERROR",
        LogLevel.Panic => "PANIC",
        _ => "LOG",
    };

    private static string Paint(Colors colors, LogLevel level, string text) => level switch
    {
        LogLevel.Trace => colors.Dim(text),
        LogLevel.Debug => colors.Blue(text),
        LogLevel.Info => colors.Green(text),
        LogLevel.Warn => colors.Yellow(text),
        LogLevel.Error or LogLevel.Panic => colors.Red(text),
        _ => text,
    };

    /// <summary>One record, one line: the message's control characters are shown escaped, so it cannot forge lines or drive the terminal.</summary>
    internal static string LogLine(LogRecord record, Colors colors) =>
        $"{colors.Dim(Values.LogTimestamp(record.Timestamp))} {Paint(colors, record.Level, LevelName(record.Level).PadLeft(5))}: {LogText.Escape(record.Message)}";

    internal static string LogJson(LogRecord record) => JsonOutput.Write(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("id", record.Id);
        w.WriteString("timestamp", Values.LogTimestamp(record.Timestamp));
        w.WriteString("level", LevelName(record.Level).ToLowerInvariant());
        if (record.Reducer.Length > 0) w.WriteString("reducer", record.Reducer);
        else w.WriteNull("reducer");
        w.WriteString("message", record.Message);
        w.WriteEndObject();
    });

    private static async Task<int> Logs(CliContext context, ParsedArguments args)
    {
        var request = new LogsRequest
        {
            Database = args.Positionals[0],
            NumLines = args.UInt("num-lines") ?? 0,
            Follow = args.Has("follow"),
            MinLevel = args.Value("level") is { } level ? ParseLevel(level) : LogLevel.Unspecified,
        };
        var json = args.Json;
        var headers = await context.AuthorizationAsync();
        using var call = context.Chat.Logs(request, headers, cancellationToken: context.Cancellation);
        try
        {
            await foreach (var record in call.ResponseStream.ReadAllAsync(context.Cancellation))
                context.Out.WriteLine(json ? LogJson(record) : LogLine(record, context.Colors));
        }
        catch (Exception e) when (context.Cancellation.IsCancellationRequested && (e is OperationCanceledException || e is RpcException { StatusCode: StatusCode.Cancelled }))
        {
            // Ctrl+C ends a follow: that is how it is meant to stop.
        }
        return ExitCodes.Ok;
    }
}
