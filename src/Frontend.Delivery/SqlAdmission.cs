using System.Net;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Chat.Frontend.Delivery;

/// <summary>
/// How many SQL queries may run at once through this gateway: per identity, per client address (fresh identities
/// cannot multiply it) and in all. A query past a limit is refused at once with RESOURCE_EXHAUSTED rather than queued,
/// so a client running heavy joins holds a bounded share of PostgreSQL and of the gateway, and everyone else's
/// queries still find room. Counted by <c>chat.gateway.refusals{limit}</c>; logged at most once a minute.
/// </summary>
public sealed class SqlAdmission(IOptions<GatewayOptions> options, ILogger<SqlAdmission> logger, TimeProvider time)
{
    public const string IdentityLimit = "sql_identity";
    public const string AddressLimit = "sql_address";
    public const string GatewayLimit = "sql_gateway";

    private static readonly TimeSpan LogEvery = TimeSpan.FromMinutes(1);

    private readonly Dictionary<Identity, int> _byIdentity = [];
    private readonly Dictionary<IPAddress, int> _byAddress = [];
    private int _running;
    private DateTimeOffset _lastLogged = DateTimeOffset.MinValue;
    private int _unlogged;

    /// <summary>Queries running now through this gateway.</summary>
    public int Running
    {
        get { lock (_byIdentity) return _running; }
    }

    /// <summary>Takes a slot for the query, to be given back by disposing the result.</summary>
    /// <exception cref="RpcException">RESOURCE_EXHAUSTED: a limit is reached; the message says which and what to do.</exception>
    public IDisposable Admit(Identity identity, IPAddress? peer)
    {
        var address = AddressLimits.Group(peer);
        var limits = options.Value;
        string? limit = null, refusal = null;
        lock (_byIdentity)
        {
            if (_byIdentity.GetValueOrDefault(identity) >= limits.MaxSqlQueriesPerIdentity)
                (limit, refusal) = (IdentityLimit, $"You already have {limits.MaxSqlQueriesPerIdentity} SQL queries running, the most one identity may run at once. Wait for one to finish, then try again.");
            else if (_byAddress.GetValueOrDefault(address) >= limits.MaxSqlQueriesPerAddress)
                (limit, refusal) = (AddressLimit, $"Your address {AddressLimits.Describe(address)} already has {limits.MaxSqlQueriesPerAddress} SQL queries running, the most one address may run at once. Wait for one to finish, then try again.");
            else if (_running >= limits.MaxSqlQueries)
                (limit, refusal) = (GatewayLimit, $"This gateway is running {limits.MaxSqlQueries} SQL queries, its limit. Try again in a moment.");
            else
            {
                _byIdentity.Increment(identity);
                _byAddress.Increment(address);
                _running++;
                return new Slot(this, identity, address);
            }
            Log(limit, refusal);
        }
        ChatMetrics.Refused(limit);
        throw new RpcException(new Status(StatusCode.ResourceExhausted, refusal));
    }

    private void Release(Identity identity, IPAddress address)
    {
        lock (_byIdentity)
        {
            _byIdentity.Decrement(identity);
            _byAddress.Decrement(address);
            _running--;
        }
    }

    private void Log(string limit, string refusal)
    {
        var now = time.GetUtcNow();
        if (now - _lastLogged < LogEvery)
        {
            _unlogged++;
            return;
        }
        logger.SqlQueryRefused(limit, refusal, _unlogged);
        (_lastLogged, _unlogged) = (now, 0);
    }

    private sealed class Slot(SqlAdmission owner, Identity identity, IPAddress address) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release(identity, address);
        }
    }
}
