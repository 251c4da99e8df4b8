using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Chat.Api.V1;

namespace Chat.Frontend;

public static class ReducerStatusMapping
{
    public static StatusCode ToStatusCode(this ReducerStatus status) => status switch
    {
        ReducerStatus.Committed => StatusCode.OK,
        ReducerStatus.InvalidArgument => StatusCode.InvalidArgument,
        ReducerStatus.FailedPrecondition => StatusCode.FailedPrecondition,
        ReducerStatus.NotFound => StatusCode.NotFound,
        ReducerStatus.PermissionDenied => StatusCode.PermissionDenied,
        ReducerStatus.ResourceExhausted => StatusCode.ResourceExhausted,
        ReducerStatus.Unavailable => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    /// <summary>For unary calls: the result when committed, otherwise an <see cref="RpcException"/> carrying the reducer's message.</summary>
    public static ReducerResult OrThrow(this ReducerResult result) =>
        result.IsCommitted ? result : throw new RpcException(new Status(result.Status.ToStatusCode(), LogText.Status(result.Error ?? result.Status.ToString())),
            new Metadata { { ChatService.GrainReported, "1" } });

    public static ReducerOutcome ToOutcome(this ReducerResult result) => new()
    {
        Code = (int)result.Status.ToStatusCode(),
        Error = LogText.Status(result.Error ?? ""),
        Timestamp = result.Timestamp is { } t ? Timestamp.FromDateTime(t) : null,
        MessageOffset = (ulong)(result.Message?.Offset ?? 0),
        Replayed = result.Replayed,
    };

    public static ReducerOutcome ToOutcome(this RpcException exception) => new()
    {
        Code = (int)exception.StatusCode,
        Error = LogText.Status(exception.Status.Detail),
    };
}
