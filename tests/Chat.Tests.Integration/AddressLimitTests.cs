using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Chat.Frontend;
using Chat.Frontend.Delivery;
using Chat.Grains;
using Chat.Storage;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>
/// Limits per client address that fresh identities cannot multiply (issue 12): new identities and Connect streams per
/// address, and the expiry of the anonymous users a flood leaves behind. Every test client is 127.0.0.1, so "another
/// address" is shown on the limiter itself.
/// </summary>
public class AddressLimitTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    // ---- the limiter alone: two addresses, a clock the test moves --------------------------------------------------

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed class CountingLogger : ILogger<AddressLimits>
    {
        public List<string> Warnings { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning) lock (Warnings) Warnings.Add(formatter(state, exception));
        }
    }

    private static (AddressLimits Limits, ManualClock Clock, CountingLogger Log) Limiter(Action<GatewayOptions> configure)
    {
        var options = new GatewayOptions();
        configure(options);
        var (clock, log) = (new ManualClock(), new CountingLogger());
        return (new AddressLimits(Options.Create(options), log, clock), clock, log);
    }

    private static readonly IPAddress First = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress Second = IPAddress.Parse("198.51.100.7");

    [Fact]
    public void Each_address_has_its_own_identity_budget_which_refills_at_its_rate()
    {
        var (limits, clock, _) = Limiter(o => (o.IdentitiesPerMinutePerAddress, o.IdentityBurstPerAddress) = (60, 3));
        for (var i = 0; i < 3; i++) limits.TakeIdentity(First, "CreateIdentity");
        var refused = Assert.Throws<RpcException>(() => limits.TakeIdentity(First, "CreateIdentity"));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal("CreateIdentity makes a new identity, and your address 192.0.2.1 has made too many: at most 60 a minute, in bursts of up to 3. " +
                     "Keep the token you were given and reuse it (send `authorization: Bearer <token>`); or try again in 1 s.", refused.Status.Detail);

        // Another address is not held back by the first one's flood.
        for (var i = 0; i < 3; i++) limits.TakeIdentity(Second, "A Connect without a token");
        Assert.Throws<RpcException>(() => limits.TakeIdentity(Second, "A Connect without a token"));

        // One a second: a second later, one more each, not two.
        clock.Now += TimeSpan.FromSeconds(1);
        limits.TakeIdentity(First, "CreateIdentity");
        Assert.Throws<RpcException>(() => limits.TakeIdentity(First, "CreateIdentity"));
    }

    [Fact]
    public void An_IPv6_client_is_limited_by_its_64_and_a_mapped_IPv4_address_as_itself()
    {
        Assert.Equal(AddressLimits.Group(IPAddress.Parse("2001:db8:1:2::1")), AddressLimits.Group(IPAddress.Parse("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        Assert.NotEqual(AddressLimits.Group(IPAddress.Parse("2001:db8:1:2::1")), AddressLimits.Group(IPAddress.Parse("2001:db8:1:3::1")));
        Assert.Equal(First, AddressLimits.Group(First.MapToIPv6()));

        var (limits, _, _) = Limiter(o => (o.IdentitiesPerMinutePerAddress, o.IdentityBurstPerAddress) = (1, 2));
        limits.TakeIdentity(IPAddress.Parse("2001:db8:1:2::1"), "CreateIdentity");
        limits.TakeIdentity(IPAddress.Parse("2001:db8:1:2::2"), "CreateIdentity");
        var refused = Assert.Throws<RpcException>(() => limits.TakeIdentity(IPAddress.Parse("2001:db8:1:2::3"), "CreateIdentity"));
        Assert.Contains("your address 2001:db8:1:2::/64 has made too many", refused.Status.Detail);
        limits.TakeIdentity(IPAddress.Parse("2001:db8:1:3::1"), "CreateIdentity");
    }

    [Fact]
    public void Each_address_holds_at_most_its_streams_and_gets_one_back_when_one_closes()
    {
        var (limits, _, _) = Limiter(o => o.MaxConnectionsPerAddress = 2);
        var open = new[] { limits.OpenConnection(First), limits.OpenConnection(First) };
        var refused = Assert.Throws<RpcException>(() => limits.OpenConnection(First));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal("Your address 192.0.2.1 already holds 2 Connect streams to this gateway (the limit per address is 2); close one before opening another.",
            refused.Status.Detail);
        using var other = limits.OpenConnection(Second);

        open[0].Dispose();
        open[0].Dispose(); // twice changes nothing
        using var again = limits.OpenConnection(First);
        Assert.Throws<RpcException>(() => limits.OpenConnection(First));
        open[1].Dispose();
    }

    [Fact]
    public void Idle_addresses_are_forgotten_and_the_table_stays_within_its_cap()
    {
        var (limits, clock, _) = Limiter(o => (o.IdentitiesPerMinutePerAddress, o.IdentityBurstPerAddress, o.MaxTrackedAddresses) = (10, 5, 100));
        using var held = limits.OpenConnection(First);
        for (var i = 0; i < 1000; i++)
        {
            limits.TakeIdentity(new IPAddress([10, 0, (byte)(i >> 8), (byte)i]), "CreateIdentity");
            Assert.InRange(limits.TrackedAddresses, 1, 100);
        }
        // Once their buckets have refilled, the next sweep forgets every address without a stream; an address with a live
        // stream is never forgotten (its count would be lost).
        clock.Now += TimeSpan.FromMinutes(2);
        limits.TakeIdentity(Second, "CreateIdentity");
        Assert.Equal(2, limits.TrackedAddresses); // First (its stream) and Second
    }

    [Fact]
    public void Refusals_are_logged_once_a_minute_per_address()
    {
        var (limits, clock, log) = Limiter(o => (o.IdentitiesPerMinutePerAddress, o.IdentityBurstPerAddress) = (0.001, 1));
        limits.TakeIdentity(First, "CreateIdentity");
        limits.TakeIdentity(Second, "CreateIdentity");
        for (var i = 0; i < 100; i++)
        {
            Assert.Throws<RpcException>(() => limits.TakeIdentity(First, "CreateIdentity"));
            Assert.Throws<RpcException>(() => limits.TakeIdentity(Second, "CreateIdentity"));
        }
        Assert.Equal(2, log.Warnings.Count);
        Assert.Contains(log.Warnings, w => w.Contains("192.0.2.1") && w.Contains("address_identities"));

        clock.Now += TimeSpan.FromMinutes(1);
        Assert.Throws<RpcException>(() => limits.TakeIdentity(First, "CreateIdentity"));
        Assert.Equal(3, log.Warnings.Count);
        Assert.Contains("99 more refusals of this address", log.Warnings[2]);
    }

    // ---- through a real gateway (all from 127.0.0.1) ---------------------------------------------------------------

    /// <summary>Counts chat.gateway.refusals by limit while it lives.</summary>
    private sealed class RefusalCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _counts = [];

        public RefusalCounter()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == ChatMetrics.MeterName && instrument.Name == "chat.gateway.refusals") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag.Key == "limit")
                        lock (_counts) _counts[(string)tag.Value!] = _counts.GetValueOrDefault((string)tag.Value!) + value;
            });
            _listener.Start();
        }

        public long this[string limit] { get { lock (_counts) return _counts.GetValueOrDefault(limit); } }

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>A gateway with low per-address limits: no refill to speak of, so the counts cannot depend on how fast the test runs.</summary>
    private Task<TestGateway> StrictGateway(int identityBurst, int streams) =>
        TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Gateway:IdentitiesPerMinutePerAddress"] = "0.0001",
            ["Chat:Gateway:IdentityBurstPerAddress"] = identityBurst.ToString(CultureInfo.InvariantCulture),
            ["Chat:Gateway:MaxConnectionsPerAddress"] = streams.ToString(CultureInfo.InvariantCulture),
        });

    [Fact]
    public async Task A_CreateIdentity_burst_from_one_address_is_refused_past_its_budget()
    {
        using var refusals = new RefusalCounter();
        await using var gateway = await StrictGateway(identityBurst: 5, streams: 100);
        var outcomes = new List<RpcException?>();
        for (var i = 0; i < 12; i++)
        {
            try
            {
                await gateway.CreateIdentityAsync();
                outcomes.Add(null);
            }
            catch (RpcException e)
            {
                outcomes.Add(e);
            }
        }
        Assert.All(outcomes.Take(5), Assert.Null);
        Assert.All(outcomes.Skip(5), e =>
        {
            Assert.Equal(StatusCode.ResourceExhausted, e!.StatusCode);
            Assert.StartsWith("CreateIdentity makes a new identity, and your address 127.0.0.1 has made too many: at most 0 a minute, in bursts of up to 5.", e.Status.Detail);
            Assert.Contains("reuse it", e.Status.Detail);
            Assert.Contains("try again in", e.Status.Detail);
        });
        Assert.True(refusals[AddressLimits.IdentitiesLimit] >= 7, $"counted {refusals[AddressLimits.IdentitiesLimit]} refusals");
    }

    [Fact]
    public async Task An_anonymous_Connect_flood_stops_at_the_address_stream_cap()
    {
        using var refusals = new RefusalCounter();
        await using var gateway = await StrictGateway(identityBurst: 1000, streams: 5);
        var flood = new List<LiveConnection>();
        for (var i = 0; i < 5; i++) flood.Add(await gateway.ConnectAsync(GatewayFixture.Database));
        for (var i = 0; i < 3; i++)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => gateway.ConnectAsync(GatewayFixture.Database));
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
            Assert.Equal("Your address 127.0.0.1 already holds 5 Connect streams to this gateway (the limit per address is 5); close one before opening another.",
                refused.Status.Detail);
        }
        Assert.True(refusals[AddressLimits.ConnectionsLimit] >= 3);

        // What the flood holds still works, and a stream closed is a stream another client from the address can open.
        var answer = await flood[0].CallAsync("send_message", """["still here"]""");
        Assert.Equal(0, answer.Outcome.Code);
        await flood[^1].CloseAsync();
        var (_, token) = await fixture.A.CreateIdentityAsync();
        using var user = await gateway.ConnectAsync(GatewayFixture.Database, token);
        Assert.Equal(0, (await user.CallAsync("set_name", """["after the flood"]""")).Outcome.Code);
        await user.CloseAsync();
        foreach (var connection in flood.SkipLast(1)) await connection.CloseAsync();
    }

    [Fact]
    public async Task With_the_identity_budget_spent_a_token_still_connects_and_refused_Connects_leave_no_user()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("budget");
        await using var gateway = await StrictGateway(identityBurst: 3, streams: 100);
        var (identity, token) = await gateway.CreateIdentityAsync();
        using var first = await gateway.ConnectAsync(db);
        using var second = await gateway.ConnectAsync(db);

        // The budget (3) is spent: no more identities from this address, by either way of making one.
        var anonymous = await Assert.ThrowsAsync<RpcException>(() => gateway.ConnectAsync(db));
        Assert.Equal(StatusCode.ResourceExhausted, anonymous.StatusCode);
        Assert.StartsWith("A Connect without a token makes a new identity, and your address 127.0.0.1 has made too many", anonymous.Status.Detail);
        Assert.Equal(StatusCode.ResourceExhausted, (await Assert.ThrowsAsync<RpcException>(() => gateway.CreateIdentityAsync())).StatusCode);

        // A Connect with a token makes no identity and draws nothing: it connects, as often as its own cap allows.
        var withToken = new List<LiveConnection>();
        for (var i = 0; i < 5; i++) withToken.Add(await gateway.ConnectAsync(db, token));
        Assert.All(withToken, c => Assert.Equal(identity, c.Identity));
        Assert.Equal(0, (await withToken[0].CallAsync("send_message", """["hello"]""")).Outcome.Code);

        // Users: the two anonymous Connects and the token's identity; the refused Connect made none.
        Assert.Equal(3, await CountUsers(db));
        foreach (var connection in withToken) await connection.CloseAsync();
        await first.CloseAsync();
        await second.CloseAsync();
    }

    // ---- anonymous users expire ------------------------------------------------------------------------------------

    private async Task<long> CountUsers(string database)
    {
        await using var source = NpgsqlDataSource.Create(fixture.ConnectionString);
        await using var command = source.CreateCommand("""SELECT count(*) FROM chat."user" u JOIN chat.database d ON d.id = u.database_id WHERE d.name = @db""");
        command.Parameters.AddWithValue("db", database);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<bool> HasUser(string database, string identity)
    {
        await using var source = NpgsqlDataSource.Create(fixture.ConnectionString);
        await using var command = source.CreateCommand("""
            SELECT count(*) FROM chat."user" u JOIN chat.database d ON d.id = u.database_id WHERE d.name = @db AND u.identity = @identity
            """);
        command.Parameters.AddWithValue("db", database);
        command.Parameters.AddWithValue("identity", Identity.Parse(identity).ToBytes());
        return (long)(await command.ExecuteScalarAsync())! == 1;
    }

    /// <summary>Makes the user look last seen two hours ago, instead of waiting for it.</summary>
    private async Task Backdate(string database, string identity)
    {
        await using var source = NpgsqlDataSource.Create(fixture.ConnectionString);
        await using var command = source.CreateCommand("""
            UPDATE chat."user" u SET last_seen = now() - interval '2 hours' FROM chat.database d
            WHERE d.id = u.database_id AND d.name = @db AND u.identity = @identity
            """);
        command.Parameters.AddWithValue("db", database);
        command.Parameters.AddWithValue("identity", Identity.Parse(identity).ToBytes());
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    [Fact]
    public async Task Expiry_deletes_only_never_named_offline_message_less_users_past_the_retention()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("expiry");
        var gateway = fixture.A;

        // The subscriber is online itself, and watches the user table.
        using var watcher = await gateway.ConnectAsync(db);
        var request = await watcher.SubscribeAsync("SELECT * FROM User");
        await watcher.ReadSnapshotAsync(request);

        async Task<LiveConnection> Visit(Func<LiveConnection, Task>? doing = null, bool stay = false)
        {
            var connection = await gateway.ConnectAsync(db);
            if (doing is not null) await doing(connection);
            if (!stay) await connection.CloseAsync();
            return connection;
        }
        var anonymous = await Visit();
        var renamedLater = await Visit();
        var named = await Visit(async c => Assert.Equal(0, (await c.CallAsync("set_name", """["kept"]""")).Outcome.Code));
        var sender = await Visit(async c => Assert.Equal(0, (await c.CallAsync("send_message", """["kept too"]""")).Outcome.Code));
        using var online = await Visit(stay: true);
        var recent = await Visit();
        foreach (var old in new[] { anonymous, renamedLater, named, sender, online }) await Backdate(db, old.Identity);

        await using var source = NpgsqlDataSource.Create(fixture.ConnectionString);
        var expiry = new UserExpiry(new UserStore(source), fixture.Cluster.Client,
            Options.Create(new UserExpiryOptions()), NullLogger<UserExpiry>.Instance);
        await expiry.ExpireAsync(TimeSpan.FromHours(1));

        Assert.False(await HasUser(db, anonymous.Identity));
        Assert.False(await HasUser(db, renamedLater.Identity));
        foreach (var kept in new[] { named, sender, online, recent, watcher })
            Assert.True(await HasUser(db, kept.Identity), $"{kept.Identity} was deleted");

        // Subscribers see the rows deleted.
        var deleted = new HashSet<string>();
        while (deleted.Count < 2)
        {
            var update = await watcher.NextUpdateAsync();
            if (update.TransactionUpdate is not { Reducer: "(expired)" } expired) continue;
            foreach (var row in expired.Tables.SelectMany(t => t.DeletedUsers)) deleted.Add(row.Identity);
            Assert.Empty(expired.Tables.SelectMany(t => t.InsertedUsers));
        }
        Assert.Equal(new[] { anonymous.Identity, renamedLater.Identity }.Order(), deleted.Order());

        // An expired identity is only forgotten by this database: its token still works, and connecting makes its row anew
        // (its user grain, which still held the old row, follows PostgreSQL), as for an identity never seen.
        var renamed = await Assert.ThrowsAsync<RpcException>(() =>
            gateway.Chat.SetNameAsync(new V1.SetNameRequest { Database = db, Name = "too late" }, TestGateway.Bearer(renamedLater.Token)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, renamed.StatusCode);
        Assert.Equal("Cannot set name for unknown user", renamed.Status.Detail);
        using var back = await gateway.ConnectAsync(db, anonymous.Token);
        Assert.Equal(anonymous.Identity, back.Identity);
        Assert.True(await HasUser(db, anonymous.Identity));
        Assert.Equal(0, (await back.CallAsync("set_name", """["back again"]""")).Outcome.Code);
        await back.CloseAsync();
        await online.CloseAsync();
        await watcher.CloseAsync();
    }

    [Fact]
    public void An_addresss_reducer_calls_share_one_budget_that_refills_and_other_addresses_keep_theirs()
    {
        var (limits, clock, _) = Limiter(o => (o.WritesPerSecondPerAddress, o.WriteBurstPerAddress) = (2, 4));
        for (var i = 0; i < 4; i++) limits.TakeWrite(First);
        var refused = Assert.Throws<RpcException>(() => limits.TakeWrite(First));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal("Your address 192.0.2.1 is calling reducers faster than one address may, whatever identities it uses: 2 calls a second, in bursts of up to 4. " +
                     "Slow down, then try again.", refused.Status.Detail);
        limits.TakeWrite(Second);
        clock.Now += TimeSpan.FromSeconds(1);
        limits.TakeWrite(First);
        limits.TakeWrite(First);
        Assert.Throws<RpcException>(() => limits.TakeWrite(First));
    }

    [Fact]
    public async Task Fresh_identities_from_one_address_cannot_multiply_the_per_identity_send_limit()
    {
        using var refusals = new RefusalCounter();
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Gateway:WritesPerSecondPerAddress"] = "0.0001",
            ["Chat:Gateway:WriteBurstPerAddress"] = "5",
        });
        var (db, _, _) = await fixture.NewDatabaseAsync("address-writes");
        var outcomes = new List<StatusCode>();
        for (var i = 0; i < 10; i++)
        {
            var (_, token) = await gateway.CreateIdentityAsync();
            try
            {
                await gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = db, Text = $"fresh {i}" }, TestGateway.Bearer(token));
                outcomes.Add(StatusCode.OK);
            }
            catch (RpcException e)
            {
                Assert.Contains("whatever identities it uses", e.Status.Detail);
                outcomes.Add(e.StatusCode);
            }
        }
        Assert.Equal([.. Enumerable.Repeat(StatusCode.OK, 5), .. Enumerable.Repeat(StatusCode.ResourceExhausted, 5)], outcomes);
        Assert.True(refusals[AddressLimits.WritesLimit] >= 5);
        // On a stream, the refusal is the call's outcome and the stream carries on.
        using var connection = await gateway.ConnectAsync(db);
        var refused = await connection.CallAsync("send_message", """["one more"]""");
        Assert.Equal((int)StatusCode.ResourceExhausted, refused.Outcome.Code);
        Assert.Equal(5, await TestPostgres.ScalarAsync<long>(fixture.ConnectionString,
            "SELECT count(*) FROM chat.message m JOIN chat.database d ON d.id = m.database_id WHERE d.name = @db", ("db", db)));
    }

    [Fact]
    public async Task Made_up_database_names_from_one_address_are_refused_past_its_lookup_budget_while_known_ones_still_work()
    {
        using var refusals = new RefusalCounter();
        await using var gateway = await TestGateway.StartAsync(fixture.Cluster.Client, new Dictionary<string, string?>
        {
            ["Chat:Gateway:UnknownDatabasesPerMinutePerAddress"] = "0.0001",
            ["Chat:Gateway:UnknownDatabaseBurstPerAddress"] = "3",
        });
        var (db, owner, _) = await fixture.NewDatabaseAsync("known");
        Task Send(string database) =>
            gateway.Chat.SendMessageAsync(new V1.SendMessageRequest { Database = database, Text = "hello" }, TestGateway.Bearer(owner)).ResponseAsync;
        await Send(db); // the first lookup: the gateway learns that it exists
        for (var i = 0; i < 2; i++)
            Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => Send($"made-up-{i}"))).StatusCode);
        var refused = await Assert.ThrowsAsync<RpcException>(() => Send("made-up-3"));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("too many databases this gateway does not know (like 'made-up-3')", refused.Status.Detail);
        Assert.True(refusals[AddressLimits.LookupsLimit] >= 1);
        await Send(db);
        var sql = await Assert.ThrowsAsync<RpcException>(() => gateway.Chat.SqlAsync(new V1.SqlRequest { Database = "made-up-4", Query = "SELECT * FROM User" }, TestGateway.Bearer(owner)).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, sql.StatusCode);
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(fixture.ConnectionString,
            "SELECT count(*) FROM chat.database WHERE name LIKE 'made-up-%'"));
    }
}
