using Chat.Frontend.Delivery;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend.Http;

/// <summary>
/// <c>POST /v1/database/:name/call/:reducer</c>: a reducer called with a JSON array of arguments, through the same
/// reducer catalog and write budget as the gRPC API. As in SpacetimeDB, an HTTP call is a short connection of its own:
/// <c>identity_connected</c> runs before the reducer and <c>identity_disconnected</c> after it, so that
/// <c>set_name</c> works for an identity that never opened a live connection.
/// </summary>
public sealed class ReducerRoute(
    IGrainFactory grains,
    HttpApiContext api,
    AddressLimits addresses,
    KnownDatabases knownDatabases,
    ConnectionRegistry connections,
    MessageSender messages,
    ILogger<ReducerRoute> logger)
{
    private static readonly TimeSpan DisconnectTimeout = TimeSpan.FromSeconds(10);

    public async Task<IResult> CallAsync(string nameOrIdentity, string reducer, HttpContext http)
    {
        var database = Authentication.RequireDatabaseName(nameOrIdentity);
        HttpApiContext.RequireJson(http);
        var args = await api.ReadBodyAsync(http);
        var peer = HttpApiContext.PeerOf(http);
        var identity = await api.IdentityOrAnonymousAsync(http);
        addresses.TakeWrite(peer);
        knownDatabases.BeforeCall(peer, database);
        using var slot = connections.Open(identity);

        var caller = new ReducerCaller(identity, ConnectionId.New());
        var user = grains.GetUserGrain(database, identity);
        ReducerResult connected;
        try
        {
            connected = await user.IdentityConnected(caller, connections.GatewayId);
        }
        catch (Exception)
        {
            // It may have committed even though we saw it fail: end the connection, or the user stays online under it.
            _ = DisconnectAsync(user, caller);
            throw;
        }
        if (!connected.IsCommitted)
        {
            if (connected.Status == ReducerStatus.NotFound) knownDatabases.Gone(database);
            // SpacetimeDB answers 403 when identity_connected refuses the caller.
            return HttpApiContext.Text(connected.Status switch
            {
                ReducerStatus.NotFound => StatusCodes.Status404NotFound,
                ReducerStatus.Unavailable => StatusCodes.Status503ServiceUnavailable,
                ReducerStatus.ResourceExhausted => StatusCodes.Status429TooManyRequests,
                _ => StatusCodes.Status403Forbidden,
            }, connected.Error ?? connected.Status.ToString());
        }
        knownDatabases.Exists(database);
        try
        {
            return await RunAsync(database, caller, reducer, args);
        }
        finally
        {
            await DisconnectAsync(user, caller);
        }
    }

    private async Task<IResult> RunAsync(string database, ReducerCaller caller, string reducer, string args)
    {
        ReducerResult result;
        try
        {
            result = await ReducerCatalog.Call(grains, messages, database, caller, reducer, args);
        }
        catch (RpcException e)
        {
            // Refused before any grain saw it (bad arguments, unknown or lifecycle reducer): the module log has it too, as for gRPC calls.
            grains.GetModuleLogGrain(database).Write(ModuleLogLevel.Error, LogText.ReducerName(reducer), e.Status.Detail, caller.Identity).Ignore();
            // SpacetimeDB: bad arguments and lifecycle reducers are 400, an unknown reducer 404.
            return HttpApiContext.Text(e.StatusCode == StatusCode.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest, e.Status.Detail);
        }
        if (result.IsCommitted) return Results.Ok();
        // Escaping and cutting the caller's text costs more than the line is worth when nobody reads it.
        if (logger.IsEnabled(LogLevel.Information))
            logger.ReducerFailedOverHttp(LogText.ReducerName(reducer), result.Status, LogText.Line(result.Error ?? ""), caller.Identity, database);
        if (result.Status == ReducerStatus.NotFound) knownDatabases.Gone(database);
        return HttpApiContext.Text(result.Status switch
        {
            ReducerStatus.NotFound => StatusCodes.Status404NotFound,
            ReducerStatus.Unavailable => StatusCodes.Status503ServiceUnavailable,
            // The reducer ran and refused: SpacetimeDB's 530, with the reducer's own error text.
            _ => HttpApiContext.ReducerFailed,
        }, LogText.Status(result.Error ?? result.Status.ToString()));
    }

    /// <summary>Ends the call's connection; when that fails, keeps trying in the background while the cluster recovers, as the gRPC API does.</summary>
    private async Task DisconnectAsync(IUserGrain user, ReducerCaller caller)
    {
        if (!await TryDisconnectAsync(user, caller)) _ = RetryDisconnectAsync(user, caller);
    }

    private async Task RetryDisconnectAsync(IUserGrain user, ReducerCaller caller)
    {
        for (var attempt = 0; attempt < 8; attempt++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1 << Math.Min(attempt, 4)));
            if (await TryDisconnectAsync(user, caller)) return;
        }
        logger.GaveUpEndingHttpConnection(caller.ConnectionId, caller.Identity);
    }

    private async Task<bool> TryDisconnectAsync(IUserGrain user, ReducerCaller caller)
    {
        try
        {
            var result = await user.IdentityDisconnected(caller).WaitAsync(DisconnectTimeout);
            if (result.IsCommitted || result.Status == ReducerStatus.NotFound) return true; // ended, or its database is gone
            logger.HttpDisconnectRefused(caller.ConnectionId, result.Error);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.HttpDisconnectFailed(caller.ConnectionId, e.Message);
        }
        return false;
    }
}
