using Chat.Api.V1;
using Chat.Frontend.Delivery;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LogLevel = Chat.Api.V1.LogLevel;

namespace Chat.Frontend;

/// <summary>Logs: the module log of a database, for its owner, read a page at a time and then, when following, as it grows.</summary>
public sealed partial class ChatService
{
    private const int LogPage = 1000;

    public override async Task Logs(LogsRequest request, IServerStreamWriter<LogRecord> responseStream, ServerCallContext context)
    {
        var caller = await authentication.RequireAsync(context);
        var database = Authentication.RequireDatabaseName(request.Database);
        knownDatabases.BeforeCall(AddressLimits.PeerOf(context), database);
        var descriptor = await grains.GetDatabaseGrain(database).Describe();
        if (descriptor is null)
        {
            knownDatabases.Gone(database);
            throw new RpcException(new Status(StatusCode.NotFound, $"Database '{database}' does not exist."));
        }
        knownDatabases.Exists(database);
        if (ChatModule.MayNotReadLogs(database, descriptor.Owner, caller) is { } refusal)
            throw new RpcException(new Status(StatusCode.PermissionDenied, refusal));
        if (request.MinLevel is < LogLevel.Unspecified or > LogLevel.Panic)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"Unknown log level {(int)request.MinLevel}."));
        // A follow stream is held open like a Connect stream, and counts against the same per-address limit.
        using var addressSlot = request.Follow ? addresses.OpenConnection(AddressLimits.PeerOf(context)) : null;

        var minimum = request.MinLevel == LogLevel.Unspecified ? ModuleLogLevel.Trace : (ModuleLogLevel)((int)request.MinLevel - 1);
        var log = grains.GetModuleLogGrain(database);
        var last = await log.StartOfNewest((int)Math.Min(request.NumLines, int.MaxValue), minimum);
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            // What is there now, a page at a time at the reader's pace; then, when following, what the log pushes.
            while (true)
            {
                var page = await log.ReadAfter(last, minimum, LogPage);
                foreach (var record in page)
                {
                    await responseStream.WriteAsync(ToProto(record), ending.Token);
                    last = record.Id;
                }
                if (page.Count < LogPage) break;
            }
            if (!request.Follow) return;
            var (follower, lease) = logFollowing.Follow(database, minimum, last);
            using (lease)
            {
                await foreach (var record in follower.Records.ReadAllAsync(ending.Token))
                    await responseStream.WriteAsync(ToProto(record), ending.Token);
            }
            throw new RpcException(new Status(StatusCode.ResourceExhausted, follower.EndedBecause ?? "Stopped following; follow again."));
        }
        catch (OperationCanceledException) when (ending.IsCancellationRequested)
        {
            // The follower went away, or the gateway is shutting down.
        }
    }

    private static LogRecord ToProto(ModuleLogRecord record) => new()
    {
        Id = (ulong)record.Id,
        Timestamp = Timestamp.FromDateTime(record.At),
        Level = (LogLevel)((int)record.Level + 1),
        Reducer = record.Reducer ?? "",
        Message = record.Message,
    };
}
