using System.Threading.Channels;
using Chat.Api.V1;
using Grpc.Core;

namespace Chat.Cli;

/// <summary>
/// One <c>Connect</c> stream. A background reader queues what the gateway sends, so that waiting for it (with a
/// timeout or Ctrl+C) never cancels the call itself: the session ends by completing its side, which the gateway
/// answers by ending the call, and that runs <c>identity_disconnected</c>.
/// </summary>
internal sealed class ConnectSession : IDisposable
{
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(10);

    private readonly AsyncDuplexStreamingCall<ClientMessage, ServerMessage> _call;
    private readonly CancellationTokenSource _abort;
    private readonly Channel<ServerMessage> _messages = Channel.CreateUnbounded<ServerMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private bool _completed;

    private ConnectSession(AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call, CancellationTokenSource abort, IdentityToken hello)
    {
        (_call, _abort, Hello) = (call, abort, hello);
        Reading = Task.Run(ReadAllAsync);
    }

    public IdentityToken Hello { get; }

    /// <summary>Everything after the IdentityToken, in order; completes when the stream ends.</summary>
    public ChannelReader<ServerMessage> Messages => _messages.Reader;

    /// <summary>How the stream failed, once it has ended; null when it ended normally.</summary>
    public RpcException? Failure { get; private set; }

    /// <summary>Completes when the gateway has ended the stream.</summary>
    public Task Reading { get; }

    public static async Task<ConnectSession> OpenAsync(CliContext context, string database)
    {
        var headers = await context.AuthorizationAsync();
        headers.Add("database", database);
        var abort = new CancellationTokenSource();
        var call = context.Chat.Connect(headers, cancellationToken: abort.Token);
        try
        {
            // Ctrl+C while connecting gives up at once; after that it closes the stream politely.
            using (context.Cancellation.Register(abort.Cancel))
            {
                if (!await call.ResponseStream.MoveNext(CancellationToken.None))
                    throw new CliException($"the gateway closed the connection to {database} before saying who you are");
            }
            var first = call.ResponseStream.Current;
            if (first.MessageCase != ServerMessage.MessageOneofCase.IdentityToken)
                throw new CliException($"the gateway's first message was {first.MessageCase}, not the identity token");
            return new ConnectSession(call, abort, first.IdentityToken);
        }
        catch
        {
            call.Dispose();
            abort.Dispose();
            throw;
        }
    }

    private async Task ReadAllAsync()
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(CancellationToken.None))
                _messages.Writer.TryWrite(_call.ResponseStream.Current);
        }
        catch (RpcException e)
        {
            if (!(_abort.IsCancellationRequested && e.StatusCode == StatusCode.Cancelled)) Failure = e;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            if (!_abort.IsCancellationRequested) Failure = new RpcException(new Status(StatusCode.Unavailable, e.Message, e));
        }
        finally
        {
            _messages.Writer.TryComplete();
        }
    }

    /// <summary>Sends one message; false when the stream is already over.</summary>
    public async Task<bool> SendAsync(ClientMessage message)
    {
        await _writeLock.WaitAsync();
        try
        {
            if (_completed || Reading.IsCompleted) return false;
            await _call.RequestStream.WriteAsync(message);
            return true;
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException or OperationCanceledException)
        {
            return false;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Completes the client's side and waits for the gateway to end the call (then gives up and cancels it).</summary>
    public async Task CloseAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            if (!_completed && !Reading.IsCompleted)
            {
                _completed = true;
                await _call.RequestStream.CompleteAsync();
            }
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException or OperationCanceledException)
        {
            // Already over.
        }
        finally
        {
            _writeLock.Release();
        }
        try
        {
            await Reading.WaitAsync(CloseGrace);
        }
        catch (TimeoutException)
        {
            _abort.Cancel();
            await Reading;
        }
    }

    public void Dispose()
    {
        _abort.Cancel();
        _call.Dispose();
        _abort.Dispose();
        _writeLock.Dispose();
    }
}
