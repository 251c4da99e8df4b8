using Chat.Api.V1;
using Chat.Frontend.Delivery;
using Grpc.Core;
using ProtoReducerResult = Chat.Api.V1.ReducerResult;

namespace Chat.Frontend;

/// <summary>
/// Connect for browsers: gRPC-Web carries no client stream, so the stream only goes to the client (its subscription
/// is in the request) and calls come as separate requests bound to the stream by its connection id.
/// </summary>
public sealed partial class ChatService
{
    public override Task Session(SessionRequest request, IServerStreamWriter<ServerMessage> responseStream, ServerCallContext context) =>
        ServeConnectionAsync(responseStream, context, async live =>
        {
            using var open = sessions.Open(live);
            if (request.Queries.Count > 0)
                await subscriptions.SubscribeAsync(live.Connection, new Subscribe { RequestId = request.RequestId, Queries = { request.Queries } }, live.Ending);
            // The connection lasts as long as the client keeps the response open.
            await Task.Delay(Timeout.Infinite, live.Ending);
        });

    public override async Task<ProtoReducerResult> SessionCall(SessionCallRequest request, ServerCallContext context)
    {
        var identity = await authentication.RequireAsync(context);
        var call = request.Call ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "SessionCall needs a call (reducer and args_json)."));
        var session = sessions.Find(request.ConnectionId, identity);
        var live = session.Live;
        var peer = AddressLimits.PeerOf(context);
        return await session.CallAsync(call.Reducer == ChatModule.SendMessage,
            () => Call(live.Database, live.Caller with { RequestId = call.RequestId, IdempotencyKey = Keyed(call.IdempotencyKey) }, call, peer),
            context.CancellationToken);
    }
}
