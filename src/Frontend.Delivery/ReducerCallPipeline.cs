using System.Threading.Channels;
using Chat.Api.V1;
using ProtoReducerResult = Chat.Api.V1.ReducerResult;

namespace Chat.Frontend.Delivery;

/// <summary>
/// The reducer calls of one Connect stream. A client may send its next call before the answer to the last: the calls
/// start in <see cref="CallOrder"/>'s order, and their answers go out in call order on the stream, which has one writer.
/// At most <see cref="MaxOutstanding"/> calls wait for their answer; past that the stream is not read until one is
/// answered. (A Session has no stream for answers: each SessionCall is answered by its own response; see
/// <see cref="OpenSession"/>.)
/// </summary>
public sealed class ReducerCallPipeline
{
    public const int MaxOutstanding = 64;

    private readonly Channel<Task<ProtoReducerResult>> _answers =
        Channel.CreateBounded<Task<ProtoReducerResult>>(new BoundedChannelOptions(MaxOutstanding) { SingleReader = true, SingleWriter = true });
    private readonly CallOrder _order = new();
    private readonly Task _responder;

    /// <param name="answer">Sends one answer to the client; a failure of it ends the pipeline (see <see cref="Failed"/>).</param>
    public ReducerCallPipeline(Func<ProtoReducerResult, ValueTask> answer)
    {
        _responder = Respond(answer);
    }

    /// <summary>Faults when an answer could not be computed or sent; the stream should end with that error.</summary>
    public Task Failed => _responder;

    /// <summary>Starts the call once the calls it must follow have finished, and queues its answer.</summary>
    public async ValueTask CallAsync(CallReducer call, Func<Task<ProtoReducerResult>> start, CancellationToken cancellationToken)
    {
        var running = await _order.StartAsync(call.Reducer == ChatModule.SendMessage, start);
        await _answers.Writer.WriteAsync(running, cancellationToken);
    }

    /// <summary>Waits until every call made so far has finished (not necessarily been answered).</summary>
    public Task IdleAsync() => _order.IdleAsync();

    /// <summary>No more calls: completes once every answer has been sent.</summary>
    public Task CompleteAsync()
    {
        _answers.Writer.TryComplete();
        return _responder;
    }

    private async Task Respond(Func<ProtoReducerResult, ValueTask> answer)
    {
        try
        {
            await foreach (var call in _answers.Reader.ReadAllAsync())
                await answer(await call);
        }
        catch (Exception e)
        {
            _answers.Writer.TryComplete(e); // the reading side stops at its next call instead of waiting for room
            throw;
        }
    }
}
