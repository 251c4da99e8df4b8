using Grpc.Net.Client;

namespace Chat.Benchmarks;

/// <summary>
/// N client streams over one channel per <see cref="StackHost.StreamsPerChannel"/> (Kestrel's streams per HTTP/2 connection),
/// each with its reader. Disposing aborts every stream, waits a bounded time for the readers, and closes the channels.
/// </summary>
public abstract class StreamClients<TCall> : IAsyncDisposable where TCall : class, IDisposable
{
    protected StreamClients(int count, string address)
    {
        Channels = Enumerable.Range(0, (count + StackHost.StreamsPerChannel - 1) / StackHost.StreamsPerChannel)
            .Select(_ => GrpcChannel.ForAddress(address)).ToArray();
        Calls = new TCall?[count];
        Reading = new Task[count];
        Array.Fill(Reading, Task.CompletedTask);
    }

    protected GrpcChannel[] Channels { get; }
    protected TCall?[] Calls { get; }
    protected Task[] Reading { get; }
    protected CancellationTokenSource Abort { get; } = new();

    public async ValueTask DisposeAsync()
    {
        Abort.Cancel();
        foreach (var call in Calls) call?.Dispose();
        try { await Task.WhenAll(Reading).WaitAsync(TimeSpan.FromSeconds(10)); } catch (Exception) { /* aborted on purpose */ }
        foreach (var channel in Channels) channel.Dispose();
        Abort.Dispose();
        GC.SuppressFinalize(this);
    }
}
