using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend.Http;

/// <summary>
/// Every refusal of the HTTP API as a status and a text/plain line, the way SpacetimeDB answers; anything a route did
/// not turn into a status (the cluster unreachable, a bug) becomes 503 or 500 with a message, never a stack trace.
/// </summary>
public sealed class HttpApiErrors(ILogger<HttpApiErrors> logger) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        try
        {
            return await next(context);
        }
        catch (HttpApiException e)
        {
            return Refuse(http, e.Status, e.Message);
        }
        catch (RpcException e)
        {
            return Refuse(http, HttpApiContext.ToHttpStatus(e.StatusCode), e.Status.Detail);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && http.RequestAborted.IsCancellationRequested)
        {
            return Results.Empty; // the client went away
        }
        catch (Exception e)
        {
            var identity = http.Items.TryGetValue(Authentication.IdentityItem, out var id) ? id : "anonymous";
            if (ClusterFailureInterceptor.IsTransient(e))
            {
                logger.HttpClusterDidNotAnswer(http.Request.Method, http.Request.Path, identity, e.GetBaseException().Message);
                return Refuse(http, StatusCodes.Status503ServiceUnavailable,
                    $"The chat cluster did not answer in time; try again shortly ({e.GetBaseException().Message}).");
            }
            var reference = Guid.NewGuid().ToString("N")[..8];
            logger.HttpCallFailedUnexpectedly(e, http.Request.Method, http.Request.Path, identity, reference);
            return Refuse(http, StatusCodes.Status500InternalServerError, $"Internal error (reference {reference}); the gateway's log has the details.");
        }
    }

    private static IResult Refuse(HttpContext http, int status, string message)
    {
        if (!http.Response.HasStarted) return HttpApiContext.Text(status, message);
        // A stream already under way (logs?follow) cannot change its status: cut it, so the client sees it did not end cleanly.
        http.Abort();
        return Results.Empty;
    }
}
