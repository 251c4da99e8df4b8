using System.Globalization;
using Chat.Api.V1;

namespace Chat.Cli;

/// <summary>
/// What a chat client knows and prints: the users by identity, the messages by offset (each shown once, however often
/// a reconnect delivers it), and the calls made and not yet answered, which a reconnect sends again with their keys.
/// </summary>
internal sealed class ChatView
{
    /// <summary>Attempts of a call that storage could not take (UNAVAILABLE), with the same key each time.</summary>
    private const int MaxAttempts = 4;

    public const uint SubscriptionId = 1;

    private readonly string _me;
    private readonly ChatScreen _screen;
    private readonly Colors _colors;
    private readonly Colors _errorColors;
    private readonly Func<DateTimeOffset> _now;
    private readonly object _gate = new();
    private readonly Dictionary<string, UserRow> _users = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<UserRow> _snapshotUsers = [];
    private readonly List<MessageRow> _snapshotMessages = [];
    private readonly List<MessageRow> _history = [];
    private bool _joined;
    private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ChatView(string me, ChatScreen screen, Colors colors, Colors errorColors, Func<ClientMessage, Task<bool>> send, Func<DateTimeOffset>? now = null)
    {
        (_me, _screen, _colors, _errorColors, Send, _now) = (me, screen, colors, errorColors, send, now ?? (() => DateTimeOffset.Now));
    }

    public ChatView(string me, CliContext context, Func<ClientMessage, Task<bool>> send)
        : this(me, new PlainScreen(context.In, context.Out, context.Err), context.Colors, context.ErrorColors, send)
    {
    }

    /// <summary>Sends on the current connection (false while there is none: the call waits for the next one).</summary>
    public Func<ClientMessage, Task<bool>> Send { get; set; }

    /// <summary>Completes once the current subscription's rows are shown; fails when the subscription is refused.</summary>
    public Task Ready { get { lock (_gate) return _ready.Task; } }

    // The subscription delivers each offset once and in order; shown once all the same, should a message come twice.
    private ulong _lastShown;

    /// <summary>The newest message offset shown or about to be: a new subscription asks for what comes after it.</summary>
    public ulong LastShown { get { lock (_gate) return Math.Max(_lastShown, _history.Count > 0 ? _history[^1].Offset : 0); } }

    /// <summary>The oldest message offset shown (0 before any): <c>/more</c> pages from there back.</summary>
    public ulong OldestShown { get; private set; }

    public string Me { get { lock (_gate) return Name(_me); } }

    /// <summary>The subscription a connection makes: every user, and the messages after the last one shown.</summary>
    public Subscribe Subscription() => new()
    {
        RequestId = SubscriptionId,
        Queries = { "SELECT * FROM User", $"SELECT * FROM Message WHERE offset > {LastShown.ToString(CultureInfo.InvariantCulture)}" },
    };

    /// <summary>Messages to show first when the first subscription is applied (read with SQL: the last ones before it).</summary>
    public void Preload(IEnumerable<MessageRow> history)
    {
        lock (_gate)
        {
            _history.AddRange(history.OrderBy(m => m.Offset));
        }
    }

    /// <summary>A new connection is about to subscribe: its snapshot is collected afresh.</summary>
    public void Resubscribing()
    {
        lock (_gate)
        {
            _snapshotUsers.Clear();
            _snapshotMessages.Clear();
            if (_ready.Task.IsCompleted) _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    // ---- calls -------------------------------------------------------------------------------------------------

    /// <summary>Calls made and not yet settled: their result, and for a committed one its own update, are still to come.</summary>
    private readonly Dictionary<uint, (bool Result, bool Update)> _pending = [];
    private readonly Dictionary<uint, (CallReducer Call, int Attempts)> _calls = [];
    private TaskCompletionSource _settled = Completed();

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }

    /// <summary>
    /// A call to wait for when leaving. A committed send_message always inserts a row, so its update always comes;
    /// a set_name that changes nothing (the same name again) has none, so only its result is awaited.
    /// </summary>
    public void Track(CallReducer call, bool expectUpdate)
    {
        lock (_pending)
        {
            if (_pending.Count == 0) _settled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[call.RequestId] = (false, !expectUpdate);
            _calls[call.RequestId] = (call, 1);
        }
    }

    /// <summary>Calls with no answer yet: after a reconnect they are sent again, with their keys, so none is lost or run twice.</summary>
    public IReadOnlyList<CallReducer> Unanswered()
    {
        lock (_pending) return _pending.Where(p => !p.Value.Result).Select(p => _calls[p.Key].Call).ToList();
    }

    /// <summary>
    /// Sends a call again after storage was unavailable, with its key: if the first attempt committed after all, the
    /// answer is its result and nothing is sent twice. False when the call is not ours or has had its attempts.
    /// </summary>
    private bool Retried(ReducerResult result)
    {
        CallReducer call;
        int attempts;
        lock (_pending)
        {
            if (result.Outcome.Code != (int)Grpc.Core.StatusCode.Unavailable || !_calls.TryGetValue(result.RequestId, out var entry) || entry.Attempts >= MaxAttempts)
                return false;
            (call, attempts) = (entry.Call, entry.Attempts + 1);
            _calls[result.RequestId] = (call, attempts);
        }
        _screen.Error(_errorColors.Dim($"{result.Reducer} could not be stored yet ({result.Outcome.Error}); trying again"));
        _ = Task.Delay(TimeSpan.FromMilliseconds(250 << attempts)).ContinueWith(_ => Send(new ClientMessage { CallReducer = call }), TaskScheduler.Default);
        return true;
    }

    /// <summary>Completes when every call made so far has its result and, when it committed, its update.</summary>
    public Task Settled()
    {
        lock (_pending) return _settled.Task;
    }

    private void Seen(uint requestId, bool result, bool update, bool failed = false)
    {
        lock (_pending)
        {
            if (!_pending.TryGetValue(requestId, out var state)) return;
            state = (state.Result || result, state.Update || update);
            if (failed || state.Result && state.Update)
            {
                _pending.Remove(requestId);
                _calls.Remove(requestId);
            }
            else _pending[requestId] = state;
            if (_pending.Count == 0) _settled.TrySetResult();
        }
    }

    // ---- what the gateway sends --------------------------------------------------------------------------------

    private string Name(string identity) =>
        Values.DisplayName(identity, _users.TryGetValue(identity, out var user) && user.HasName ? user.Name : null);

    public void Handle(ServerMessage message)
    {
        lock (_gate) HandleLocked(message);
    }

    private void HandleLocked(ServerMessage message)
    {
        switch (message.MessageCase)
        {
            case ServerMessage.MessageOneofCase.SubscribeApplied when message.SubscribeApplied.RequestId == SubscriptionId:
                foreach (var table in message.SubscribeApplied.Tables)
                {
                    _snapshotUsers.AddRange(table.Users);
                    _snapshotMessages.AddRange(table.Messages);
                }
                if (message.SubscribeApplied.Last) Applied();
                break;
            case ServerMessage.MessageOneofCase.SubscriptionError:
                if (!_ready.Task.IsCompleted) _ready.TrySetException(new CliException($"the subscription was refused: {message.SubscriptionError.Error}"));
                else _screen.Error(_errorColors.Red($"error: {message.SubscriptionError.Error}"));
                break;
            case ServerMessage.MessageOneofCase.TransactionUpdate when _ready.Task.IsCompleted:
                Apply(message.TransactionUpdate);
                if (message.TransactionUpdate.OwnCall) Seen(message.TransactionUpdate.RequestId, result: false, update: true);
                break;
            case ServerMessage.MessageOneofCase.ReducerResult:
                var result = message.ReducerResult;
                if (Retried(result)) break;
                if (result.Outcome is { Code: not 0 } outcome)
                    _screen.Error(_errorColors.Red($"error: {(string.IsNullOrEmpty(outcome.Error) ? $"{result.Reducer} failed" : outcome.Error)}"));
                // A replayed answer (a call sent again after a reconnect) has no update of its own: its row came with the snapshot.
                Seen(result.RequestId, result: true, update: result.Outcome is { Replayed: true }, failed: result.Outcome is not { Code: 0 });
                break;
        }
    }

    private void Applied()
    {
        if (!_joined)
        {
            foreach (var user in _snapshotUsers) _users[user.Identity] = user;
            foreach (var message in _history) Print(message);
            _history.Clear();
        }
        else
        {
            // Back after a reconnect: what changed meanwhile is told as if it had been seen live.
            foreach (var user in _snapshotUsers)
            {
                var old = _users.GetValueOrDefault(user.Identity);
                _users[user.Identity] = user;
                Changed(old, user);
            }
        }
        foreach (var message in _snapshotMessages.OrderBy(m => m.Offset)) Print(message);
        if (!_joined) WhoLocked();
        _joined = true;
        _snapshotUsers.Clear();
        _snapshotMessages.Clear();
        _ready.TrySetResult();
    }

    private void Apply(TransactionUpdate update)
    {
        foreach (var table in update.Tables)
        {
            var deleted = new Dictionary<string, UserRow>(StringComparer.OrdinalIgnoreCase);
            foreach (var user in table.DeletedUsers) deleted[user.Identity] = user;
            var inserted = table.InsertedUsers.Select(u => u.Identity).ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var gone in deleted.Keys.Where(k => !inserted.Contains(k))) _users.Remove(gone);
            foreach (var user in table.InsertedUsers)
            {
                var old = deleted.GetValueOrDefault(user.Identity) ?? _users.GetValueOrDefault(user.Identity);
                _users[user.Identity] = user;
                Changed(old, user);
            }
            foreach (var message in table.InsertedMessages.OrderBy(m => m.Offset)) Print(message);
        }
    }

    private void Changed(UserRow? old, UserRow now)
    {
        var mine = string.Equals(now.Identity, _me, StringComparison.OrdinalIgnoreCase);
        var name = Values.DisplayName(now.Identity, now.HasName ? now.Name : null);
        if (old is not null && now.HasName && (!old.HasName || old.Name != now.Name))
            Notice($"User {Values.DisplayName(old.Identity, old.HasName ? old.Name : null)} renamed to {now.Name}.");
        if (mine) return;
        if (now.Online && (old is null || !old.Online)) Notice($"User {name} connected.");
        else if (!now.Online && old is { Online: true }) Notice($"User {name} disconnected.");
    }

    // ---- what the person asks for ------------------------------------------------------------------------------

    /// <summary>Prints who is online (you first, the others by name).</summary>
    public void Who()
    {
        lock (_gate) WhoLocked();
    }

    private void WhoLocked()
    {
        var others = _users.Values
            .Where(u => u.Online && !string.Equals(u.Identity, _me, StringComparison.OrdinalIgnoreCase))
            .Select(u => Values.DisplayName(u.Identity, u.HasName ? u.Name : null))
            .Order(StringComparer.OrdinalIgnoreCase)
            .ToList();
        Notice(others.Count == 0
            ? $"Online: {Name(_me)} (you); nobody else."
            : $"Online: {Name(_me)} (you), {string.Join(", ", others)}.");
    }

    /// <summary>Older messages fetched by <c>/more</c>, newest last, between two rules so they are not taken for new ones.</summary>
    public void PrintOlder(IReadOnlyList<MessageRow> older)
    {
        lock (_gate)
        {
            if (older.Count == 0)
            {
                Notice("No older messages.");
                return;
            }
            var ordered = older.OrderBy(m => m.Offset).ToList();
            Notice($"--- {ordered.Count} older message{(ordered.Count == 1 ? "" : "s")} ---");
            foreach (var message in ordered) _screen.Line(Format(message));
            Notice("--- end of older messages ---");
            OldestShown = ordered[0].Offset;
        }
    }

    public void Notice(string text) => _screen.Line(_colors.Dim(text));

    public void Error(string text) => _screen.Error(_errorColors.Red("error: " + text));

    public void Status(string text) => _screen.Error(_errorColors.Dim(text));

    private void Print(MessageRow message)
    {
        if (message.Offset <= _lastShown) return;
        _lastShown = message.Offset;
        if (OldestShown == 0 || message.Offset < OldestShown) OldestShown = message.Offset;
        _screen.Line(Format(message));
    }

    private string Format(MessageRow message)
    {
        var sender = Name(message.Sender);
        var mine = string.Equals(message.Sender, _me, StringComparison.OrdinalIgnoreCase);
        return $"{_colors.Dim(Time(message))} {(mine ? _colors.Green(sender) : _colors.Cyan(sender))}: {message.Text}";
    }

    /// <summary>The local time it was sent; with the date when that is not today.</summary>
    private string Time(MessageRow message)
    {
        if (message.Sent is null) return "[--:--]";
        var now = _now();
        var local = message.Sent.ToDateTimeOffset().ToOffset(now.Offset);
        return local.Date == now.Date ? $"[{local:HH:mm}]" : $"[{local:yyyy-MM-dd HH:mm}]";
    }
}
