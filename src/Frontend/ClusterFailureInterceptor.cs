using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend;

/// <summary>
/// Anything a handler did not turn into a status itself (the cluster unreachable, a timeout, a bug)
/// becomes UNAVAILABLE or INTERNAL with a message a person can act on, never a stack trace.
/// </summary>
public sealed class ClusterFailureInterceptor(ILogger<ClusterFailureInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw Translate(e, context);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw Translate(e, context);
        }
    }

    /// <summary>The cluster or its storage could not be reached: worth a retry, unlike a bug.</summary>
    internal static bool IsTransient(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is TimeoutException or OperationCanceledException or System.Net.Sockets.SocketException
                or Orleans.Runtime.SiloUnavailableException or Orleans.Runtime.OrleansMessageRejectionException
                or Orleans.Runtime.Messaging.ConnectionFailedException or Orleans.Storage.InconsistentStateException)
                return true;
            // Grain storage wraps PostgreSQL errors (Npgsql is not referenced here, so by namespace).
            if (inner.GetType().Namespace == "Npgsql" || inner.Message.StartsWith("Error from storage provider", StringComparison.Ordinal))
                return true;
        }
        return false;
    }

    private RpcException Translate(Exception e, ServerCallContext context)
    {
        var identity = context.GetHttpContext().Items.TryGetValue(Authentication.IdentityItem, out var id) ? id : "anonymous";
        if (IsTransient(e))
        {
            logger.ClusterDidNotAnswer(context.Method, identity, e.GetBaseException().Message);
            return new RpcException(new Status(StatusCode.Unavailable, $"The chat cluster did not answer in time; try again shortly ({e.GetBaseException().Message})."));
        }
        var reference = Guid.NewGuid().ToString("N")[..8];
        logger.CallFailedUnexpectedly(e, context.Method, identity, reference);
        return new RpcException(new Status(StatusCode.Internal, $"Internal error (reference {reference}); the gateway's log has the details."));
    }
}
