using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Frontend.Delivery;

/// <summary>
/// Limits per client address, which fresh identities cannot multiply: how many new identities an address may make
/// (<c>CreateIdentity</c> and Connects without a token draw from one token bucket), and how many Connect streams it may
/// hold on this gateway. An address is an IPv4 address or an IPv6 /64 (one subscriber's usual allocation, so a client
/// cannot step through its own /64 to escape the limit).
/// <para>
/// Memory is bounded: an address is forgotten once it holds no stream and its bucket has refilled (forgetting it
/// then changes nothing), looked for at most once a minute; and at most <see cref="GatewayOptions.MaxTrackedAddresses"/>
/// are kept, the least recently seen stream-less ones going first when more arrive.
/// </para>
/// Refusals are RESOURCE_EXHAUSTED saying which limit, its numbers and when to retry; each is counted
/// (<c>chat.gateway.refusals{limit}</c>) and logged at most once a minute per address.
/// </summary>
public sealed class AddressLimits(IOptions<GatewayOptions> options, ILogger<AddressLimits> logger, TimeProvider time)
{
    public const string IdentitiesLimit = "address_identities";
    public const string ConnectionsLimit = "address_connections";
    public const string AddressesLimit = "tracked_addresses";
    public const string WritesLimit = "address_writes";
    public const string LookupsLimit = "address_unknown_databases";

    private static readonly TimeSpan SweepEvery = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan LogEvery = TimeSpan.FromMinutes(1);

    private readonly Dictionary<IPAddress, Entry> _entries = [];
    private DateTimeOffset _lastSweep = time.GetUtcNow();

    private sealed class Entry(DateTimeOffset now, double tokens)
    {
        public double Tokens = tokens;
        public DateTimeOffset Refilled = now;
        public DateTimeOffset LastSeen = now;
        public int Streams;
        public TokenBucket Writes;
        public TokenBucket Lookups;
        public DateTimeOffset? LastLogged;
        public int Unlogged;
    }

    /// <summary>Addresses whose limits are being kept now.</summary>
    public int TrackedAddresses
    {
        get { lock (_entries) return _entries.Count; }
    }

    /// <summary>The client address of a call, as Kestrel saw it (behind an L7 proxy, configure forwarded headers first).</summary>
    public static IPAddress? PeerOf(ServerCallContext context) => context.GetHttpContext().Connection.RemoteIpAddress;

    /// <summary>What the limits are kept under: the IPv4 address, or the IPv6 /64; an unknown address is one group of its own.</summary>
    public static IPAddress Group(IPAddress? address)
    {
        if (address is null) return IPAddress.IPv6None;
        if (address.IsIPv4MappedToIPv6) return address.MapToIPv4();
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return address;
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes);
    }

    internal static string Describe(IPAddress group) =>
        group.AddressFamily == AddressFamily.InterNetworkV6 ? $"{group}/64" : group.ToString();

    /// <summary>
    /// Takes one new identity from the address's budget, or throws RESOURCE_EXHAUSTED. <paramref name="what"/> says what
    /// made the identity, for the message (<c>CreateIdentity</c>, <c>a Connect without a token</c>).
    /// </summary>
    public void TakeIdentity(IPAddress? address, string what)
    {
        var limits = options.Value;
        if (limits.IdentitiesPerMinutePerAddress <= 0) return;
        var group = Group(address);
        string refusal;
        lock (_entries)
        {
            var now = time.GetUtcNow();
            var entry = Find(group, now, limits);
            Refill(entry, now, limits);
            if (entry.Tokens >= 1)
            {
                entry.Tokens -= 1;
                return;
            }
            var wait = Wait((1 - entry.Tokens) / limits.IdentitiesPerMinutePerAddress * 60);
            refusal = $"{what} makes a new identity, and your address {Describe(group)} has made too many: at most " +
                      $"{limits.IdentitiesPerMinutePerAddress:0.##} a minute, in bursts of up to {limits.IdentityBurstPerAddress}. " +
                      $"Keep the token you were given and reuse it (send `authorization: Bearer <token>`); or try again in {wait}.";
            Log(entry, group, IdentitiesLimit, refusal, now);
        }
        ChatMetrics.Refused(IdentitiesLimit);
        throw new RpcException(new Status(StatusCode.ResourceExhausted, refusal));
    }

    /// <summary>
    /// Takes one reducer call (send_message, set_name, ...) from the address's budget, or throws RESOURCE_EXHAUSTED: the
    /// per-identity limits are the database owner's to set, and fresh identities would multiply them.
    /// </summary>
    public void TakeWrite(IPAddress? address)
    {
        var limits = options.Value;
        if (limits.WritesPerSecondPerAddress <= 0) return;
        Take(address, WritesLimit, (entry, now) => entry.Writes.TryTake(now, limits.WritesPerSecondPerAddress, limits.WriteBurstPerAddress),
            group => $"Your address {Describe(group)} is calling reducers faster than one address may, whatever identities it uses: " +
                     $"{limits.WritesPerSecondPerAddress:0.##} calls a second, in bursts of up to {limits.WriteBurstPerAddress}. Slow down, then try again.");
    }

    /// <summary>
    /// Takes one lookup of a database name this gateway does not know to exist, or throws RESOURCE_EXHAUSTED: each such
    /// name costs the cluster an activation and a read, so an address cannot ask for thousands of made-up names.
    /// </summary>
    public void TakeLookup(IPAddress? address, string database)
    {
        var limits = options.Value;
        if (limits.UnknownDatabasesPerMinutePerAddress <= 0) return;
        Take(address, LookupsLimit, (entry, now) => entry.Lookups.TryTake(now, limits.UnknownDatabasesPerMinutePerAddress / 60, limits.UnknownDatabaseBurstPerAddress),
            group => $"Your address {Describe(group)} has asked for too many databases this gateway does not know (like '{database}'): " +
                     $"at most {limits.UnknownDatabasesPerMinutePerAddress:0.##} a minute, in bursts of up to {limits.UnknownDatabaseBurstPerAddress}. " +
                     "Check the name (`chat list` shows yours), then try again in a minute.");
    }

    private void Take(IPAddress? address, string limit, Func<Entry, DateTime, bool> take, Func<IPAddress, string> refusalFor)
    {
        var group = Group(address);
        string refusal;
        lock (_entries)
        {
            var now = time.GetUtcNow();
            var entry = Find(group, now, options.Value);
            if (take(entry, now.UtcDateTime)) return;
            refusal = refusalFor(group);
            Log(entry, group, limit, refusal, now);
        }
        ChatMetrics.Refused(limit);
        throw new RpcException(new Status(StatusCode.ResourceExhausted, refusal));
    }

    private static string Wait(double seconds) =>
        seconds <= 120 ? $"{Math.Max(1, Math.Ceiling(seconds)):0} s" : seconds <= 7200 ? $"{Math.Ceiling(seconds / 60):0} min" : $"{Math.Ceiling(seconds / 3600):0} h";

    /// <summary>Reserves one of the address's Connect streams until the result is disposed, or throws RESOURCE_EXHAUSTED.</summary>
    public IDisposable OpenConnection(IPAddress? address)
    {
        var limits = options.Value;
        var group = Group(address);
        string refusal;
        lock (_entries)
        {
            var now = time.GetUtcNow();
            var entry = Find(group, now, limits);
            if (entry.Streams < limits.MaxConnectionsPerAddress)
            {
                entry.Streams++;
                return new Slot(this, entry);
            }
            refusal = $"Your address {Describe(group)} already holds {entry.Streams} Connect streams to this gateway " +
                      $"(the limit per address is {limits.MaxConnectionsPerAddress}); close one before opening another.";
            Log(entry, group, ConnectionsLimit, refusal, now);
        }
        ChatMetrics.Refused(ConnectionsLimit);
        throw new RpcException(new Status(StatusCode.ResourceExhausted, refusal));
    }

    private void Close(Entry entry)
    {
        lock (_entries)
        {
            entry.Streams--;
            entry.LastSeen = time.GetUtcNow();
        }
    }

    private sealed class Slot(AddressLimits limits, Entry entry) : IDisposable
    {
        private int _disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) limits.Close(entry);
        }
    }

    /// <summary>Under the lock: the address's entry, made (with a full bucket) if it has none; keeps the table bounded.</summary>
    private Entry Find(IPAddress group, DateTimeOffset now, GatewayOptions limits)
    {
        if (now - _lastSweep >= SweepEvery) Sweep(now, limits);
        if (_entries.TryGetValue(group, out var entry))
        {
            entry.LastSeen = now;
            return entry;
        }
        if (_entries.Count >= limits.MaxTrackedAddresses)
        {
            Sweep(now, limits);
            if (_entries.Count >= limits.MaxTrackedAddresses) Evict(limits);
            if (_entries.Count >= limits.MaxTrackedAddresses)
            {
                // Every address kept holds a live stream: the table cannot shrink until one closes.
                ChatMetrics.Refused(AddressesLimit);
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"This gateway is keeping limits for its maximum of {limits.MaxTrackedAddresses} client addresses, all with live streams; try again later or another gateway."));
            }
        }
        entry = new Entry(now, limits.IdentityBurstPerAddress);
        _entries[group] = entry;
        return entry;
    }

    private static void Refill(Entry entry, DateTimeOffset now, GatewayOptions limits)
    {
        if (now <= entry.Refilled) return;
        entry.Tokens = Math.Min(limits.IdentityBurstPerAddress, entry.Tokens + (now - entry.Refilled).TotalMinutes * limits.IdentitiesPerMinutePerAddress);
        entry.Refilled = now;
    }

    /// <summary>Forgets the addresses that hold no stream and whose bucket is full again: keeping them would change nothing.</summary>
    private void Sweep(DateTimeOffset now, GatewayOptions limits)
    {
        _lastSweep = now;
        List<IPAddress>? idle = null;
        foreach (var (group, entry) in _entries)
        {
            if (entry.Streams > 0) continue;
            Refill(entry, now, limits);
            var utc = now.UtcDateTime;
            if ((limits.IdentitiesPerMinutePerAddress <= 0 || entry.Tokens >= limits.IdentityBurstPerAddress)
                && entry.Writes.IsFullAt(utc, limits.WritesPerSecondPerAddress, limits.WriteBurstPerAddress)
                && entry.Lookups.IsFullAt(utc, limits.UnknownDatabasesPerMinutePerAddress / 60, limits.UnknownDatabaseBurstPerAddress))
                (idle ??= []).Add(group);
        }
        foreach (var group in idle ?? []) _entries.Remove(group);
    }

    /// <summary>
    /// The table is full of addresses that still owe tokens: forget the least recently seen tenth of those without a
    /// stream (they start again with a full bucket). Done in one go, so that a flood of new addresses pays for it rarely.
    /// </summary>
    private void Evict(GatewayOptions limits)
    {
        var victims = _entries.Where(e => e.Value.Streams == 0)
            .OrderBy(e => e.Value.LastSeen)
            .Take(Math.Max(1, limits.MaxTrackedAddresses / 10))
            .Select(e => e.Key)
            .ToList();
        foreach (var group in victims) _entries.Remove(group);
        if (victims.Count > 0)
            logger.AddressesForgotten(victims.Count, limits.MaxTrackedAddresses);
    }

    /// <summary>One line per address and minute at most, saying how many refusals went unlogged before it.</summary>
    private void Log(Entry entry, IPAddress group, string limit, string refusal, DateTimeOffset now)
    {
        if (entry.LastLogged is { } last && now - last < LogEvery)
        {
            entry.Unlogged++;
            return;
        }
        logger.AddressRefused(Describe(group), limit, refusal, entry.Unlogged);
        (entry.LastLogged, entry.Unlogged) = (now, 0);
    }
}
