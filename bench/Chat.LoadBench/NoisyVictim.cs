using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using V1 = Chat.Api.V1;

namespace Chat.LoadBench;

/// <summary>
/// What the victim saw in one phase. Latencies in ms, nearest rank: send->delivery from the sender's write to the arrival at
/// each other subscriber (every delivery), commit->delivery from the row's server timestamp 'sent', send->ack at the sender.
/// </summary>
public sealed record VictimResult(
    int Sent,
    int Acked,
    long Deliveries,
    long ExpectedDeliveries,
    double DeliveryP50Ms,
    double DeliveryP99Ms,
    double DeliveryMaxMs,
    double CommitP99Ms,
    double AckP99Ms,
    int Probes,
    int ProbeFailures,
    double ProbeP50Ms,
    double ProbeP99Ms,
    List<string> Failures);

/// <summary>
/// The noisy-neighbour scenario's victim: one database with the default settings, a sender and a few subscribers of
/// <c>SELECT * FROM Message</c>, and an owner who probes it with <c>Sql</c>. All of it from 127.0.0.1, with identities made
/// once (five, well within the address's identity budget) and reconnected with their tokens in every phase.
/// </summary>
public sealed class NoisyVictim
{
    public const string SenderName = "victim-sender";
    private const double ProbesPerSecond = 4;

    private readonly string _address;
    private readonly string _database;
    private readonly Metadata _owner;
    private readonly string _senderToken;
    private readonly string[] _subscriberTokens;
    private readonly double _rate;
    private readonly CancellationToken _cancel;

    private NoisyVictim(string address, string database, Metadata owner, string senderToken, string[] subscriberTokens, double rate, CancellationToken cancel) =>
        (_address, _database, _owner, _senderToken, _subscriberTokens, _rate, _cancel) = (address, database, owner, senderToken, subscriberTokens, rate, cancel);

    public string Database => _database;

    /// <summary>Identities, the database (published with the default settings, as users keep them) and the sender's name.</summary>
    public static async Task<NoisyVictim> SetUpAsync(string address, string database, int subscribers, double rate, CancellationToken cancel)
    {
        using var channel = GrpcChannel.ForAddress(address);
        var chat = new V1.Chat.ChatClient(channel);
        async Task<string> Token() => (await chat.CreateIdentityAsync(new V1.CreateIdentityRequest(), cancellationToken: cancel)).Token;
        var owner = new Metadata { { "authorization", "Bearer " + await Token() } };
        await new V1.Databases.DatabasesClient(channel).PublishAsync(new V1.PublishRequest { Database = database }, owner, cancellationToken: cancel);
        var sender = await Token();
        var tokens = new string[subscribers];
        for (var i = 0; i < subscribers; i++) tokens[i] = await Token();
        // set_name needs the user, which the first Connect makes.
        using (var call = chat.Connect(Headers(database, sender), cancellationToken: cancel))
        {
            await Expect(call, V1.ServerMessage.MessageOneofCase.IdentityToken, "sender", cancel);
            await call.RequestStream.WriteAsync(new V1.ClientMessage
            {
                CallReducer = new V1.CallReducer { RequestId = 1, Reducer = "set_name", ArgsJson = JsonSerializer.Serialize(new[] { SenderName }) },
            }, cancel);
            var result = await Expect(call, V1.ServerMessage.MessageOneofCase.ReducerResult, "sender", cancel);
            if (result.ReducerResult.Outcome.Code != 0) throw new InvalidOperationException($"victim set_name: {result.ReducerResult.Outcome.Error}");
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(cancel)) { }
        }
        return new NoisyVictim(address, database, owner, sender, tokens, rate, cancel);
    }

    private static Metadata Headers(string database, string token) => new() { { "database", database }, { "authorization", "Bearer " + token } };

    private static async Task<V1.ServerMessage> Expect(AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call, V1.ServerMessage.MessageOneofCase kind, string who,
        CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        if (!await call.ResponseStream.MoveNext(timeout.Token)) throw new InvalidOperationException($"victim {who}: the stream ended before {kind}");
        var message = call.ResponseStream.Current;
        if (message.MessageCase != kind) throw new InvalidOperationException($"victim {who}: {message.MessageCase} instead of {kind}: {message}");
        return message;
    }

    /// <summary>Connects the subscribers (each subscribed, its snapshot read) and the sender, ready for <see cref="Session.MeasureAsync"/>.</summary>
    public async Task<Session> OpenAsync(string tag, double seconds)
    {
        var session = new Session(this, tag, (int)Math.Max(1, Math.Round(_rate * seconds)));
        try
        {
            await session.ConnectAsync();
            return session;
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    public sealed class Session : IAsyncDisposable
    {
        private readonly NoisyVictim _victim;
        private readonly string _tag;
        private readonly int _messages;
        private readonly List<GrpcChannel> _channels = [];
        private readonly CancellationTokenSource _abort = new();
        private readonly long[] _written;
        private readonly long[] _acked;
        private readonly int[] _codes;
        private readonly long[][] _arrived;
        private readonly long[][] _commitLatency;
        private readonly Task[] _reading;
        private readonly List<string> _failures = [];
        private AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>? _sender;
        private readonly AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>?[] _subscribers;
        private readonly TaskCompletionSource _allAcked = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _acks;

        internal Session(NoisyVictim victim, string tag, int messages)
        {
            (_victim, _tag, _messages) = (victim, tag, messages);
            _written = new long[messages];
            _acked = new long[messages];
            _codes = new int[messages];
            _arrived = victim._subscriberTokens.Select(_ => new long[messages]).ToArray();
            _commitLatency = victim._subscriberTokens.Select(_ => new long[messages]).ToArray();
            _subscribers = new AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage>?[victim._subscriberTokens.Length];
            _reading = Enumerable.Repeat(Task.CompletedTask, _subscribers.Length + 1).ToArray();
        }

        private void Fail(string failure)
        {
            lock (_failures)
                if (_failures.Count < 20) _failures.Add(failure);
        }

        private V1.Chat.ChatClient Client()
        {
            // One HTTP/2 connection each, so that the victim's streams wait on nothing of each other's.
            var channel = GrpcChannel.ForAddress(_victim._address);
            _channels.Add(channel);
            return new V1.Chat.ChatClient(channel);
        }

        internal async Task ConnectAsync()
        {
            for (var s = 0; s < _subscribers.Length; s++)
            {
                var call = _subscribers[s] = Client().Connect(Headers(_victim._database, _victim._subscriberTokens[s]), cancellationToken: _abort.Token);
                await Expect(call, V1.ServerMessage.MessageOneofCase.IdentityToken, $"subscriber {s}", _victim._cancel);
                await call.RequestStream.WriteAsync(new V1.ClientMessage { Subscribe = new V1.Subscribe { RequestId = 1, Queries = { "SELECT * FROM Message" } } },
                    _victim._cancel);
                while (true)
                {
                    var applied = await Expect(call, V1.ServerMessage.MessageOneofCase.SubscribeApplied, $"subscriber {s}", _victim._cancel);
                    if (applied.SubscribeApplied.Last) break;
                }
                var subscriber = s;
                _reading[s] = Task.Run(() => ReadDeliveries(subscriber, call), CancellationToken.None);
            }
            _sender = Client().Connect(Headers(_victim._database, _victim._senderToken), cancellationToken: _abort.Token);
            await Expect(_sender, V1.ServerMessage.MessageOneofCase.IdentityToken, "sender", _victim._cancel);
            _reading[^1] = Task.Run(ReadResults, CancellationToken.None);
        }

        private string Text(int i) => $"{_tag} #{i.ToString("D6", CultureInfo.InvariantCulture)} the victim chats on, at a steady pace";

        private async Task ReadDeliveries(int subscriber, AsyncDuplexStreamingCall<V1.ClientMessage, V1.ServerMessage> call)
        {
            var prefix = _tag + " #";
            try
            {
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    var now = Stopwatch.GetTimestamp();
                    var utc = DateTime.UtcNow.Ticks;
                    var message = call.ResponseStream.Current;
                    if (message.MessageCase != V1.ServerMessage.MessageOneofCase.TransactionUpdate)
                    {
                        Fail($"subscriber {subscriber}: unexpected {message.MessageCase}: {message}");
                        continue;
                    }
                    foreach (var row in message.TransactionUpdate.Tables.SelectMany(t => t.InsertedMessages))
                    {
                        // Other people's messages in the room (an attacker's, in one phase) are delivered too; only ours are timed.
                        if (!row.Text.StartsWith(prefix, StringComparison.Ordinal)
                            || !int.TryParse(row.Text.AsSpan(prefix.Length, 6), CultureInfo.InvariantCulture, out var i) || i >= _messages) continue;
                        if (_arrived[subscriber][i] != 0)
                        {
                            Fail($"subscriber {subscriber}: message {i} delivered twice");
                            continue;
                        }
                        _arrived[subscriber][i] = now;
                        _commitLatency[subscriber][i] = utc - row.Sent.ToDateTime().Ticks;
                    }
                }
            }
            catch (RpcException e) when (!_abort.IsCancellationRequested)
            {
                Fail($"subscriber {subscriber}: the stream failed: {Outcomes.Name(e.StatusCode)} {e.Status.Detail}");
            }
            catch (RpcException) { }
        }

        private async Task ReadResults()
        {
            try
            {
                while (await _sender!.ResponseStream.MoveNext(CancellationToken.None))
                {
                    var message = _sender.ResponseStream.Current;
                    if (message.MessageCase != V1.ServerMessage.MessageOneofCase.ReducerResult || message.ReducerResult.RequestId is 0
                        || message.ReducerResult.RequestId > _messages)
                    {
                        Fail($"sender: unexpected {message}");
                        continue;
                    }
                    var i = (int)message.ReducerResult.RequestId - 1;
                    _acked[i] = Stopwatch.GetTimestamp();
                    _codes[i] = message.ReducerResult.Outcome.Code;
                    if (_codes[i] != 0) Fail($"sender: message {i} refused: {Outcomes.Name((StatusCode)_codes[i])} {message.ReducerResult.Outcome.Error}");
                    if (Interlocked.Increment(ref _acks) == _messages) _allAcked.TrySetResult();
                }
            }
            catch (RpcException e) when (!_abort.IsCancellationRequested)
            {
                Fail($"sender: the stream failed: {Outcomes.Name(e.StatusCode)} {e.Status.Detail}");
            }
            catch (RpcException) { }
            _allAcked.TrySetResult();
        }

        /// <summary>Sends at the victim's rate for the phase, probes with Sql meanwhile, then waits (bounded) for every delivery.</summary>
        public async Task<VictimResult> MeasureAsync()
        {
            var cancel = _victim._cancel;
            using var probing = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            var probes = Task.Run(() => ProbeAsync(probing.Token), CancellationToken.None);
            var start = Stopwatch.GetTimestamp();
            var sent = 0;
            try
            {
                for (var i = 0; i < _messages; i++)
                {
                    var wait = start + (long)(i * Stopwatch.Frequency / _victim._rate) - Stopwatch.GetTimestamp();
                    if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), cancel);
                    _written[i] = Stopwatch.GetTimestamp();
                    await _sender!.RequestStream.WriteAsync(new V1.ClientMessage
                    {
                        CallReducer = new V1.CallReducer { RequestId = (uint)i + 1, Reducer = "send_message", ArgsJson = JsonSerializer.Serialize(new[] { Text(i) }) },
                    }, cancel);
                    sent++;
                }
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException)
            {
                Fail($"sender: could not write message {sent}: {e.Message}");
            }
            probing.Cancel();
            var (probeLatencies, probeFailures) = await probes;

            // Bounded: 20 s for the acknowledgements, then until every subscriber has every acknowledged message or 20 s pass without one.
            try { await _allAcked.Task.WaitAsync(TimeSpan.FromSeconds(20), cancel); }
            catch (TimeoutException) { Fail($"sender: {Volatile.Read(ref _acks)} of {sent} acknowledged 20 s after the last send"); }
            var ok = Enumerable.Range(0, sent).Where(i => _acked[i] != 0 && _codes[i] == 0).ToArray();
            var expected = (long)ok.Length * _arrived.Length;
            long Delivered() => _arrived.Sum(a => (long)ok.Count(i => Volatile.Read(ref a[i]) != 0));
            var last = Delivered();
            var quiet = Stopwatch.StartNew();
            while (last < expected && quiet.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(50, cancel);
                var now = Delivered();
                if (now != last) (last, quiet) = (now, Stopwatch.StartNew());
            }
            if (last < expected) Fail($"{expected - last} of {expected} deliveries of acknowledged messages missing 20 s after the last one");

            var delivery = new List<long>();
            var commit = new List<long>();
            foreach (var (arrived, s) in _arrived.Select((a, s) => (a, s)))
                foreach (var i in ok)
                    if (arrived[i] != 0)
                    {
                        delivery.Add(arrived[i] - _written[i]);
                        commit.Add(_commitLatency[s][i]);
                    }
            var acks = ok.Select(i => _acked[i] - _written[i]).ToArray();
            long[] Sorted(IEnumerable<long> values)
            {
                var array = values.ToArray();
                Array.Sort(array);
                return array;
            }
            var d = Sorted(delivery);
            var c = Sorted(commit);
            var a = Sorted(acks);
            var p = Sorted(probeLatencies);
            List<string> failures;
            lock (_failures) failures = [.. _failures];
            return new VictimResult(sent, ok.Length, delivery.Count, expected, Percentiles.StopwatchMs(d, 0.50), Percentiles.StopwatchMs(d, 0.99),
                Percentiles.StopwatchMs(d, 1), Percentiles.Ms(c, 0.99), Percentiles.StopwatchMs(a, 0.99), p.Length + probeFailures, probeFailures,
                Percentiles.StopwatchMs(p, 0.50), Percentiles.StopwatchMs(p, 0.99), failures);
        }

        /// <summary>The owner's look at its users, a few times a second: how long an ordinary Sql call takes beside the attack.</summary>
        private async Task<(List<long> Latencies, int Failures)> ProbeAsync(CancellationToken stop)
        {
            var chat = Client();
            var latencies = new List<long>();
            var failures = 0;
            var start = Stopwatch.GetTimestamp();
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var wait = start + (long)(n * Stopwatch.Frequency / ProbesPerSecond) - Stopwatch.GetTimestamp();
                try
                {
                    if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), stop);
                }
                catch (OperationCanceledException) { break; }
                var before = Stopwatch.GetTimestamp();
                try
                {
                    // Not cancelled with the sending: a probe in flight is waited for (its own deadline bounds it).
                    var answer = await chat.SqlAsync(new V1.SqlRequest { Database = _victim._database, Query = $"SELECT * FROM User WHERE name = '{SenderName}'" },
                        _victim._owner, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: _victim._cancel);
                    latencies.Add(Stopwatch.GetTimestamp() - before);
                    if (answer.Rows.Count != 1) Fail($"SQL probe: {answer.Rows.Count} rows instead of 1");
                }
                catch (RpcException e)
                {
                    failures++;
                    Fail($"SQL probe failed: {Outcomes.Name(e.StatusCode)} {e.Status.Detail}");
                }
            }
            return (latencies, failures);
        }

        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            // Goodbye first, so that the users go offline as a client leaving would; then whatever is left is cut.
            foreach (var call in _subscribers.Append(_sender))
            {
                if (call is null) continue;
                try { await call.RequestStream.CompleteAsync(); }
                catch (Exception e) when (e is RpcException or InvalidOperationException) { }
            }
            try { await Task.WhenAll(_reading).WaitAsync(TimeSpan.FromSeconds(10)); }
            catch (TimeoutException) { }
            _abort.Cancel();
            foreach (var call in _subscribers.Append(_sender)) call?.Dispose();
            try { await Task.WhenAll(_reading).WaitAsync(TimeSpan.FromSeconds(10)); }
            catch (TimeoutException) { }
            foreach (var channel in _channels) channel.Dispose();
            _abort.Dispose();
        }
    }
}
