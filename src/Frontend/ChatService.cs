using Chat.Api.V1;
using Chat.Frontend.Delivery;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using System.Threading.Channels;
using ProtoReducerResult = Chat.Api.V1.ReducerResult;

namespace Chat.Frontend;

/// <summary>The <c>chat.v1.Chat</c> service: identities, live connections and reducer calls, relayed to the grains.</summary>
public sealed partial class ChatService(
    IGrainFactory grains,
    TokenService tokens,
    Authentication authentication,
    ConnectionRegistry connections,
    AddressLimits addresses,
    SqlAdmission sqlAdmission,
    KnownDatabases knownDatabases,
    LogFollowing logFollowing,
    SessionRegistry sessions,
    MessageSender messages,
    Subscriptions subscriptions,
    Microsoft.Extensions.Options.IOptions<GatewayOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<ChatService> logger) : Api.V1.Chat.ChatBase
{
    /// <summary>How long a disconnect may take once its stream has ended, even while the gateway shuts down.</summary>
    private static readonly TimeSpan DisconnectTimeout = TimeSpan.FromSeconds(10);

    public override Task<CreateIdentityResponse> CreateIdentity(CreateIdentityRequest request, ServerCallContext context)
    {
        addresses.TakeIdentity(AddressLimits.PeerOf(context), "CreateIdentity");
        var identity = Identity.Random();
        return Task.FromResult(new CreateIdentityResponse { Identity = identity.ToString(), Token = tokens.Issue(identity) });
    }

    public override Task Connect(IAsyncStreamReader<ClientMessage> requestStream, IServerStreamWriter<ServerMessage> responseStream, ServerCallContext context) =>
        ServeConnectionAsync(responseStream, context, async live =>
        {
            var connection = live.Connection;
            var calls = new ReducerCallPipeline(result => connection.SendAsync(new ServerMessage { ReducerResult = result }, live.Ending));
            try
            {
                await foreach (var message in requestStream.ReadAllAsync(live.Ending))
                {
                    switch (message.MessageCase)
                    {
                        case ClientMessage.MessageOneofCase.CallReducer:
                            var call = message.CallReducer;
                            await calls.CallAsync(call, () => Call(live.Database, live.Caller with { RequestId = call.RequestId, IdempotencyKey = Keyed(call.IdempotencyKey) }, call, live.Peer), live.Ending);
                            break;
                        case ClientMessage.MessageOneofCase.Subscribe:
                            await calls.IdleAsync(); // the snapshot includes what this client's earlier calls did
                            await subscriptions.SubscribeAsync(connection, message.Subscribe, live.Ending);
                            break;
                        case ClientMessage.MessageOneofCase.Unsubscribe:
                            await calls.IdleAsync();
                            await subscriptions.UnsubscribeAsync(connection, message.Unsubscribe.RequestId, live.Ending);
                            break;
                    }
                }
                await calls.CompleteAsync();
            }
            catch (Exception) when (calls.Failed.IsFaulted)
            {
                // An answer could not be made (the cluster failed under a call): end the stream with that error, as a
                // call failing in the read loop would; the interceptor maps it to its status.
                live.Failed = true;
                calls.Failed.GetAwaiter().GetResult();
                throw;
            }
        });

    /// <summary>
    /// One live connection, whatever carries it (Connect, Session): the limits, identity_connected, the IdentityToken,
    /// then <paramref name="serve"/> until the stream ends, then identity_disconnected and the release of all it held.
    /// </summary>
    private async Task ServeConnectionAsync(IServerStreamWriter<ServerMessage> responseStream, ServerCallContext context, Func<ServedConnection, Task> serve)
    {
        var database = Authentication.RequireDatabaseName(context.RequestHeaders.GetValue("database"));
        // Like SpacetimeDB's anonymous connect: no token, a new identity.
        var identity = await authentication.TryAuthenticateAsync(context);
        Authentication.TryBearerToken(context.RequestHeaders.GetValue("authorization"), out var token); // checked just above
        var peer = AddressLimits.PeerOf(context);
        // The stream limits first, so that a Connect refused by one of them has not spent a new identity.
        using var addressSlot = addresses.OpenConnection(peer);
        knownDatabases.BeforeCall(peer, database);
        var anonymous = identity is null;
        identity ??= Identity.Random();
        using var slot = connections.Open(identity.Value);
        if (anonymous)
        {
            // Each anonymous Connect is a new identity (and a new user row): it draws from the address's identity budget,
            // as CreateIdentity does. A Connect with a token never does.
            addresses.TakeIdentity(peer, "A Connect without a token");
            token = tokens.Issue(identity.Value);
        }
        // Disposed after the stream tokens linked to it below (using declarations end in reverse order).
        using var connection = new ClientConnection(identity.Value, ConnectionId.New(), database, options.Value.SendQueueCapacity);
        var caller = new ReducerCaller(identity.Value, connection.Id);
        var user = grains.GetUserGrain(database, identity.Value);
        try
        {
            (await user.IdentityConnected(caller, connections.GatewayId)).OrThrow();
            knownDatabases.Exists(database);
        }
        catch (Exception)
        {
            // The call may have run even though we saw it fail (a timeout, a silo that died after committing): then the
            // user is online under a connection nobody will end, and the janitor leaves it alone while this gateway lives.
            // End it, as any disconnect (ending an unknown connection changes nothing), retrying while the cluster recovers.
            _ = ForgetConnectionAsync(user, caller);
            throw;
        }
        logger.ConnectionOpened(connection.Id, identity.Value, database);

        var reason = "the client closed the stream";
        // The stream also ends when the gateway shuts down, so that its users go offline properly, or when the client is evicted.
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping, connection.Evicted);
        // Eviction does not cancel a write in progress: the client gets the messages already on their way, then the status saying why.
        using var writing = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var pump = connection.PumpAsync(responseStream, writing.Token);
        var live = new ServedConnection(connection, caller, database, peer, ending.Token);
        try
        {
            await connection.SendAsync(new ServerMessage
            {
                IdentityToken = new IdentityToken { Identity = identity.Value.ToString(), Token = token, ConnectionId = connection.Id.ToString() },
            }, ending.Token);
            await serve(live);
            connection.Complete();
            await pump;
        }
        catch (Exception e) when (!live.Failed && (e is OperationCanceledException or IOException or ChannelClosedException || e is RpcException { StatusCode: StatusCode.Cancelled }))
        {
            reason = connection.EvictedBecause is not null ? (connection.EndStatus == StatusCode.NotFound ? "its database was deleted" : "it could not keep up")
                : lifetime.ApplicationStopping.IsCancellationRequested ? "the gateway is shutting down" : "the client went away";
        }
        finally
        {
            connection.Complete();
            // Released at once, not after the client has read what is on its way: a client that stopped reading
            // must not keep its user online, its subscriptions or its connection slot.
            try
            {
                await subscriptions.DropAsync(connection);
                ReducerResult? disconnected = null;
                try
                {
                    using var timeout = new CancellationTokenSource(DisconnectTimeout);
                    disconnected = await user.IdentityDisconnected(caller).WaitAsync(timeout.Token);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    logger.DisconnectFailedOnClose(connection.Id, e.Message);
                }
                // Not ended (the cluster or its storage was away): the user would stay online under a connection nobody
                // ends, since the janitor only ends the connections of dead gateways. Keep trying in the background.
                if (disconnected is not { IsCommitted: true }) _ = ForgetConnectionAsync(user, caller);
                logger.ConnectionClosed(connection.Id, identity.Value, database, reason, disconnected);
            }
            finally
            {
                slot.Dispose();
                addressSlot.Dispose();
                await FinishWriting(connection, pump, writing, context);
            }
        }
        if (connection.EvictedBecause is { } evicted)
            throw new RpcException(new Status(connection.EndStatus, evicted));
    }

    /// <summary>Ends a connection whose connect or disconnect failed as far as this gateway saw, retrying while the cluster recovers.</summary>
    private async Task ForgetConnectionAsync(IUserGrain user, ReducerCaller caller)
    {
        for (var attempt = 0; attempt < 8; attempt++)
        {
            try
            {
                var result = await user.IdentityDisconnected(caller).WaitAsync(DisconnectTimeout);
                if (result.IsCommitted || result.Status == ReducerStatus.NotFound) return; // ended, or its database is gone
                logger.DisconnectRefused(caller.ConnectionId, result.Error);
            }
            catch (Exception e)
            {
                logger.DisconnectFailed(caller.ConnectionId, e.Message);
            }
            await Task.Delay(TimeSpan.FromSeconds(1 << Math.Min(attempt, 4)));
        }
        logger.GaveUpEndingConnection(caller.ConnectionId, caller.Identity);
    }

    /// <summary>
    /// The status can only follow the message being written (the queue behind it is dropped). A client that takes none
    /// of it within the grace is not reading at all: its call is aborted, so that the server frees the HTTP/2 stream
    /// rather than holding it, and the write, for a reader that may never come.
    /// </summary>
    private async Task FinishWriting(ClientConnection connection, Task pump, CancellationTokenSource writing, ServerCallContext context)
    {
        try
        {
            await pump.WaitAsync(options.Value.EvictionGrace);
        }
        catch (TimeoutException)
        {
            logger.ConnectionNotReading(connection.Id, options.Value.EvictionGrace);
            _ = pump.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            writing.Cancel();
            context.GetHttpContext().Abort();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException || e is RpcException)
        {
        }
    }

    public override async Task<SqlResponse> Sql(SqlRequest request, ServerCallContext context)
    {
        var caller = await authentication.RequireAsync(context);
        var database = Authentication.RequireDatabaseName(request.Database);
        var peer = AddressLimits.PeerOf(context);
        knownDatabases.BeforeCall(peer, database);
        using var slot = sqlAdmission.Admit(caller, peer);
        var answer = await grains.GetGrain<ISqlGrain>(0).Query(database, request.Query, caller);
        if (answer.Status == ReducerStatus.NotFound) knownDatabases.Gone(database);
        else knownDatabases.Exists(database);
        if (answer.Result is not { } result)
            throw new RpcException(new Status(answer.Status.ToStatusCode(), answer.Error ?? answer.Status.ToString()));
        return SqlMapping.ToResponse(result);
    }

    private async Task<ProtoReducerResult> Call(string database, ReducerCaller caller, CallReducer call, System.Net.IPAddress? peer)
    {
        var response = new ProtoReducerResult { RequestId = call.RequestId, Reducer = call.Reducer };
        try
        {
            // A gateway limit, not the module's: refused without a module log record.
            addresses.TakeWrite(peer);
        }
        catch (RpcException e)
        {
            response.Outcome = e.ToOutcome();
            return response;
        }
        try
        {
            RequireUsableKey(caller.IdempotencyKey);
            var result = await ReducerCatalog.Call(grains, messages, database, caller, call.Reducer, call.ArgsJson);
            response.Outcome = result.ToOutcome();
            if (!result.IsCommitted) LogFailure(database, caller, call.Reducer, result.Status.ToStatusCode(), result.Error);
        }
        catch (RpcException e)
        {
            response.Outcome = e.ToOutcome();
            LogFailure(database, caller, call.Reducer, e.StatusCode, e.Status.Detail);
            ToModuleLog(database, caller, call.Reducer, e);
        }
        return response;
    }

    public override async Task<CallReducerResponse> CallReducer(CallReducerRequest request, ServerCallContext context)
    {
        var (database, caller) = await Unary(request.Database, request.IdempotencyKey, context);
        var result = await Run(database, caller, request.Reducer,
            () => ReducerCatalog.Call(grains, messages, database, caller, request.Reducer, request.ArgsJson));
        return new CallReducerResponse
        {
            Timestamp = Timestamp.FromDateTime(result.Timestamp!.Value), MessageOffset = (ulong)(result.Message?.Offset ?? 0), Replayed = result.Replayed,
        };
    }

    public override async Task<ReducerResponse> SetName(SetNameRequest request, ServerCallContext context)
    {
        var (database, caller) = await Unary(request.Database, request.IdempotencyKey, context);
        var result = await Run(database, caller, ChatModule.SetName, () => ReducerCatalog.Invoke(grains, messages, database, caller, ChatModule.SetName, request.Name));
        return new ReducerResponse { Timestamp = Timestamp.FromDateTime(result.Timestamp!.Value), Replayed = result.Replayed };
    }

    public override async Task<ReducerResponse> SendMessage(SendMessageRequest request, ServerCallContext context)
    {
        var (database, caller) = await Unary(request.Database, request.IdempotencyKey, context);
        var result = await Run(database, caller, ChatModule.SendMessage, () => ReducerCatalog.Invoke(grains, messages, database, caller, ChatModule.SendMessage, request.Text));
        return new ReducerResponse { Timestamp = Timestamp.FromDateTime(result.Timestamp!.Value), MessageOffset = (ulong)result.Message!.Offset, Replayed = result.Replayed };
    }

    private async Task<(string Database, ReducerCaller Caller)> Unary(string database, string idempotencyKey, ServerCallContext context)
    {
        var identity = await authentication.RequireAsync(context);
        var name = Authentication.RequireDatabaseName(database);
        var key = Keyed(idempotencyKey);
        RequireUsableKey(key);
        var peer = AddressLimits.PeerOf(context);
        addresses.TakeWrite(peer);
        knownDatabases.BeforeCall(peer, name);
        return (name, new ReducerCaller(identity, IdempotencyKey: key));
    }

    /// <summary>Proto3 has no absent string: an empty key means the call has none.</summary>
    private static string? Keyed(string idempotencyKey) => idempotencyKey.Length == 0 ? null : idempotencyKey;

    private static void RequireUsableKey(string? key)
    {
        if (IdempotencyKey.Problem(key) is { } problem)
            throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
    }

    private async Task<ReducerResult> Run(string database, ReducerCaller caller, string reducer, Func<Task<ReducerResult>> call)
    {
        try
        {
            var result = (await call()).OrThrow();
            knownDatabases.Exists(database);
            return result;
        }
        catch (RpcException e)
        {
            if (e.StatusCode == StatusCode.NotFound) knownDatabases.Gone(database);
            LogFailure(database, caller, reducer, e.StatusCode, e.Status.Detail);
            ToModuleLog(database, caller, reducer, e);
            throw;
        }
    }

    /// <summary>Calls refused here, before any grain saw them (bad arguments, unknown reducer), belong in the module log too.</summary>
    private void ToModuleLog(string database, ReducerCaller caller, string reducer, RpcException e)
    {
        if (e.Trailers.Get(GrainReported) is null)
            grains.GetModuleLogGrain(database).Write(ModuleLogLevel.Error, LogText.ReducerName(reducer), e.Status.Detail, caller.Identity).Ignore();
    }

    /// <summary>Marks failures that a grain reported, and therefore already logged.</summary>
    internal const string GrainReported = "chat-reported-by-grain";

    /// <summary>The reducer name and error are the caller's text: escaped and cut, so they cannot forge lines in the console.</summary>
    private void LogFailure(string database, ReducerCaller caller, string reducer, StatusCode code, string? error)
    {
        // Escaping and cutting the text costs more than the line is worth when nobody reads it.
        if (logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Information))
            logger.ReducerFailed(LogText.ReducerName(reducer), code, LogText.Line(error ?? ""), caller.Identity, caller.ConnectionId?.ToString() ?? "none", database);
    }
}
