using Npgsql;

namespace Chat.Tests;

/// <summary>
/// The seed's walkthrough and every reducer rule against a real Orleans cluster and real PostgreSQL;
/// each check reads the tables back with SQL, because they are the source of truth.
/// </summary>
public class ChatModuleTests(ChatClusterFixture fixture) : IClassFixture<ChatClusterFixture>
{
    private readonly string _db = fixture.ConnectionString;
    private static int _names;

    private ChatDriver NewDatabase(out Identity owner)
    {
        owner = Identity.Random();
        return new ChatDriver(fixture.Client, $"db-{Interlocked.Increment(ref _names)}-{Guid.NewGuid():N}"[..30]);
    }

    private async Task<ChatDriver> PublishedDatabase(ModuleSettings? settings = null)
    {
        var chat = NewDatabase(out var owner);
        var published = await chat.Publish(owner, settings: settings);
        Assert.True(published.Result.IsCommitted, published.Result.ToString());
        return chat;
    }

    private Task<long> Count(string table, ChatDriver chat) => TestPostgres.ScalarAsync<long>(_db,
        $"SELECT count(*) FROM chat.{table} t JOIN chat.database d ON d.id = t.database_id WHERE d.name = @name", ("name", chat.Database));

    private async Task<(string? Name, bool Online)?> UserRow(ChatDriver chat, Identity identity)
    {
        var rows = await TestPostgres.RowsAsync(_db, """
            SELECT u.name, u.online FROM chat."user" u JOIN chat.database d ON d.id = u.database_id
            WHERE d.name = @name AND u.identity = @identity
            """, ("name", chat.Database), ("identity", identity.ToBytes()));
        return rows.Count == 0 ? null : ((string?)rows[0][0], (bool)rows[0][1]!);
    }

    private async Task<List<(long Offset, Identity Sender, DateTime Sent, string Text)>> Messages(ChatDriver chat)
    {
        var rows = await TestPostgres.RowsAsync(_db, """
            SELECT m."offset", m.sender, m.sent, m.text FROM chat.message m JOIN chat.database d ON d.id = m.database_id
            WHERE d.name = @name ORDER BY m."offset"
            """, ("name", chat.Database));
        return rows.Select(r => ((long)r[0]!, Identity.FromBytes((byte[])r[1]!), (DateTime)r[2]!, (string)r[3]!)).ToList();
    }

    [Fact]
    public async Task The_quickstart_walkthrough_leaves_its_rows_in_PostgreSQL()
    {
        var chat = await PublishedDatabase();
        var alice = Identity.Random();
        var connection = ConnectionId.New();

        Assert.True((await chat.Connect(alice, connection)).IsCommitted);
        Assert.Equal((null, true), await UserRow(chat, alice));

        Assert.True((await chat.SetName(alice, "Alice")).IsCommitted);
        Assert.Equal(("Alice", true), await UserRow(chat, alice));

        var sent = await chat.Send(alice, "Hello, World!");
        Assert.True(sent.IsCommitted, sent.ToString());
        var message = Assert.Single(await Messages(chat));
        Assert.Equal((1L, alice, "Hello, World!"), (message.Offset, message.Sender, message.Text));
        Assert.Equal(sent.Timestamp, message.Sent);
        Assert.Equal(sent.Message, new MessageRow(1, alice, message.Sent, "Hello, World!"));

        Assert.True((await chat.Disconnect(alice, connection)).IsCommitted);
        Assert.Equal(("Alice", false), await UserRow(chat, alice));
        Assert.Equal(new UserRow(alice, "Alice", false), await chat.User(alice));
    }

    [Fact]
    public async Task Set_name_for_an_identity_that_never_connected_fails_and_writes_nothing()
    {
        var chat = await PublishedDatabase();
        var stranger = Identity.Random();
        var result = await chat.SetName(stranger, "Mallory");
        Assert.Equal(ReducerStatus.FailedPrecondition, result.Status);
        Assert.Equal("Cannot set name for unknown user", result.Error);
        Assert.Null(await UserRow(chat, stranger));
    }

    [Fact]
    public async Task Invalid_names_are_refused_and_the_old_name_stays()
    {
        var chat = await PublishedDatabase();
        var bob = Identity.Random();
        await chat.Connect(bob, ConnectionId.New());
        await chat.SetName(bob, "Bob");

        foreach (var (name, error) in new[]
        {
            ("", "Names must not be empty"),
            ("B\u0000b", "Names must not contain control or other non-printable characters (found U+0000)"),
            (new string('b', 65), "Names must be at most 64 characters long (this one has 65)"),
        })
        {
            var result = await chat.SetName(bob, name);
            Assert.Equal(ReducerStatus.InvalidArgument, result.Status);
            Assert.Equal(error, result.Error);
        }
        Assert.Equal(("Bob", true), await UserRow(chat, bob));
        Assert.Equal("Bob", (await chat.User(bob))!.Name);
    }

    [Fact]
    public async Task Names_are_stored_NFC_normalised()
    {
        var chat = await PublishedDatabase();
        var jose = Identity.Random();
        await chat.Connect(jose, ConnectionId.New());
        Assert.True((await chat.SetName(jose, "Jose\u0301")).IsCommitted);
        Assert.Equal(("Jos\u00e9", true), await UserRow(chat, jose));
    }

    [Fact]
    public async Task An_empty_message_is_refused_and_takes_no_offset()
    {
        var chat = await PublishedDatabase();
        var carol = Identity.Random();
        var empty = await chat.Send(carol, "");
        Assert.Equal(ReducerStatus.InvalidArgument, empty.Status);
        Assert.Equal("Messages must not be empty", empty.Error);
        Assert.Equal(0, await Count("message", chat));

        var ok = await chat.Send(carol, "first");
        Assert.Equal(1, ok.Message!.Offset);
    }

    [Fact]
    public async Task Send_message_does_not_need_a_user_row_as_in_the_seed()
    {
        // `spacetime call` without a connection: the seed inserts the message all the same.
        var chat = await PublishedDatabase();
        var script = Identity.Random();
        Assert.True((await chat.Send(script, "from a script")).IsCommitted);
        Assert.Null(await UserRow(chat, script));
        Assert.Equal(1, await Count("message", chat));
    }

    [Fact]
    public async Task Disconnecting_an_unknown_user_changes_nothing()
    {
        var chat = await PublishedDatabase();
        var ghost = Identity.Random();
        Assert.True((await chat.Disconnect(ghost, ConnectionId.New())).IsCommitted);
        Assert.Null(await UserRow(chat, ghost));
    }

    [Fact]
    public async Task A_user_with_two_connections_goes_offline_only_when_both_end()
    {
        var chat = await PublishedDatabase();
        var dave = Identity.Random();
        var (phone, laptop) = (ConnectionId.New(), ConnectionId.New());
        await chat.Connect(dave, phone);
        await chat.Connect(dave, laptop);
        await chat.Disconnect(dave, phone);
        Assert.Equal((null, true), await UserRow(chat, dave));
        await chat.Disconnect(dave, laptop);
        Assert.Equal((null, false), await UserRow(chat, dave));
        await chat.Connect(dave, phone);
        Assert.Equal((null, true), await UserRow(chat, dave));
    }

    [Fact]
    public async Task Reducers_on_an_unpublished_database_say_it_does_not_exist()
    {
        var chat = NewDatabase(out _);
        var someone = Identity.Random();
        foreach (var result in new[]
        {
            await chat.Send(someone, "hello?"),
            await chat.Connect(someone, ConnectionId.New()),
            await chat.SetName(someone, "x"),
        })
        {
            Assert.Equal(ReducerStatus.NotFound, result.Status);
            Assert.Equal($"Database '{chat.Database}' does not exist.", result.Error);
        }
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(_db, "SELECT count(*) FROM chat.database WHERE name = @n", ("n", chat.Database)));
    }

    [Fact]
    public async Task Publishing_is_idempotent_for_the_owner_and_refused_to_others()
    {
        var chat = NewDatabase(out var owner);
        var first = await chat.Publish(owner);
        Assert.True(first.Created);
        var again = await chat.Publish(owner);
        Assert.True(again.Result.IsCommitted);
        Assert.False(again.Created);
        Assert.Equal(first.Database, again.Database);

        var intruder = Identity.Random();
        var refused = await chat.Publish(intruder);
        Assert.Equal(ReducerStatus.PermissionDenied, refused.Result.Status);
        Assert.Contains($"owned by identity {owner}", refused.Result.Error);

        var listed = (await fixture.Client.GetGrain<IDatabaseCatalogGrain>(0).List()).Single(d => d.Name == chat.Database);
        Assert.Equal(owner, listed.Owner);
        Assert.Equal(first.Database!.CreatedAt, listed.CreatedAt);
        Assert.True(Math.Abs((DateTime.UtcNow - listed.CreatedAt).TotalMinutes) < 5);
    }

    [Theory]
    [InlineData("Bad-Name")]
    [InlineData("under_score")]
    [InlineData("double--hyphen")]
    public async Task Invalid_database_names_are_refused_and_create_nothing(string name)
    {
        var result = await fixture.Client.GetDatabaseGrain(name).Publish(Identity.Random());
        Assert.Equal(ReducerStatus.InvalidArgument, result.Result.Status);
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(_db, "SELECT count(*) FROM chat.database WHERE name = @n", ("n", name)));
    }

    [Fact]
    public async Task Deleting_removes_all_rows_of_that_database_and_only_those()
    {
        var keep = NewDatabase(out var keepOwner);
        var drop = NewDatabase(out var dropOwner);
        await keep.Publish(keepOwner);
        await drop.Publish(dropOwner);
        var erin = Identity.Random();
        foreach (var chat in new[] { keep, drop })
        {
            await chat.Connect(erin, ConnectionId.New());
            await chat.SetName(erin, "Erin of " + chat.Database);
            await chat.Send(erin, "hi " + chat.Database);
        }

        var refused = await fixture.Client.GetDatabaseGrain(drop.Database).Delete(keepOwner);
        Assert.Equal(ReducerStatus.PermissionDenied, refused.Status);
        Assert.Equal(1, await Count("message", drop));
        var dropId = await DatabaseId(drop);

        Assert.True((await fixture.Client.GetDatabaseGrain(drop.Database).Delete(dropOwner)).IsCommitted);
        Assert.Equal(0, await Count("message", drop));
        Assert.Equal((0, 0), await RowsOf(dropId)); // by id: nothing left that no catalog row points to
        Assert.Equal(0, await TestPostgres.ScalarAsync<long>(_db, "SELECT count(*) FROM chat.database WHERE name = @n", ("n", drop.Database)));
        Assert.Equal(("Erin of " + keep.Database, true), await UserRow(keep, erin));
        Assert.Equal("hi " + keep.Database, Assert.Single(await Messages(keep)).Text);
        Assert.Equal(ReducerStatus.NotFound, (await drop.Send(erin, "still there?")).Status);

        // Published again, the database starts empty: the user grain must not remember the old row.
        await drop.Publish(dropOwner);
        Assert.Equal("Cannot set name for unknown user", (await drop.SetName(erin, "Erin")).Error);
        Assert.Equal(1, (await drop.Send(erin, "fresh start")).Message!.Offset);
    }

    [Fact]
    public async Task Deleting_while_messages_are_being_sent_leaves_no_row_behind()
    {
        // Messages and log records carry no foreign key (one existence check per group instead): a delete racing with
        // group commits must still leave nothing of the database, and every send gets committed or not-found.
        var chat = NewDatabase(out var owner);
        await chat.Publish(owner, settings: ModuleSettings.Default with { MessagesPerSecond = 0 });
        var id = await DatabaseId(chat);
        // Each sender goes on until the delete has reached it (a send answered not-found); the delete waits for a commit.
        var committed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var senders = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var statuses = new List<ReducerStatus>();
            while (statuses.Count == 0 || statuses[^1] != ReducerStatus.NotFound)
            {
                statuses.Add((await chat.Send(owner, $"sender {w}")).Status);
                if (statuses[^1] == ReducerStatus.Committed) committed.TrySetResult();
            }
            return statuses;
        })).ToArray();
        await committed.Task.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True((await fixture.Client.GetDatabaseGrain(chat.Database).Delete(owner)).IsCommitted);
        var statuses = (await Task.WhenAll(senders).WaitAsync(TimeSpan.FromMinutes(1))).SelectMany(s => s).ToList();

        Assert.Contains(ReducerStatus.Committed, statuses);
        Assert.Equal(ReducerStatus.NotFound, statuses[^1]);
        Assert.All(statuses, s => Assert.True(s is ReducerStatus.Committed or ReducerStatus.NotFound, s.ToString()));
        Assert.Equal((0, 0), await RowsOf(id));
    }

    private Task<long> DatabaseId(ChatDriver chat) =>
        TestPostgres.ScalarAsync<long>(_db, "SELECT id FROM chat.database WHERE name = @n", ("n", chat.Database));

    private async Task<(long Messages, long Logs)> RowsOf(long databaseId) => (
        await TestPostgres.ScalarAsync<long>(_db, "SELECT count(*) FROM chat.message WHERE database_id = @id", ("id", databaseId)),
        await TestPostgres.ScalarAsync<long>(_db, "SELECT count(*) FROM chat.log WHERE database_id = @id", ("id", databaseId)));

    [Fact]
    public async Task Clearing_on_publish_empties_the_database()
    {
        var chat = NewDatabase(out var owner);
        await chat.Publish(owner);
        await chat.Send(owner, "old");
        var cleared = await chat.Publish(owner, clear: true);
        Assert.True(cleared.Created);
        Assert.Equal(0, await Count("message", chat));
        Assert.Equal(1, (await chat.Send(owner, "new")).Message!.Offset);
    }

    [Fact]
    public async Task Unique_names_when_enabled_ignore_case()
    {
        var chat = await PublishedDatabase(ModuleSettings.Default with { UniqueNames = true });
        var (frank, imposter) = (Identity.Random(), Identity.Random());
        await chat.Connect(frank, ConnectionId.New());
        await chat.Connect(imposter, ConnectionId.New());
        Assert.True((await chat.SetName(frank, "Frank")).IsCommitted);
        var taken = await chat.SetName(imposter, "FRANK");
        Assert.Equal(ReducerStatus.FailedPrecondition, taken.Status);
        Assert.Equal(Chat.Grains.ChatReducers.NameTaken("FRANK"), taken.Error);
        Assert.Equal((null, true), await UserRow(chat, imposter));
        // The holder may change the case of their own name.
        Assert.True((await chat.SetName(frank, "frank")).IsCommitted);
    }

    [Fact]
    public async Task Without_unique_names_two_users_may_share_a_name()
    {
        var chat = await PublishedDatabase();
        var (a, b) = (Identity.Random(), Identity.Random());
        await chat.Connect(a, ConnectionId.New());
        await chat.Connect(b, ConnectionId.New());
        Assert.True((await chat.SetName(a, "Sam")).IsCommitted);
        Assert.True((await chat.SetName(b, "Sam")).IsCommitted);
    }

    [Fact]
    public async Task Nameless_senders_are_refused_when_the_database_requires_names()
    {
        var chat = await PublishedDatabase(ModuleSettings.Default with { RequireNameToSend = true });
        var gina = Identity.Random();
        await chat.Connect(gina, ConnectionId.New());
        var refused = await chat.Send(gina, "hi");
        Assert.Equal(ReducerStatus.FailedPrecondition, refused.Status);
        Assert.Equal("Set a name before sending messages", refused.Error);
        await chat.SetName(gina, "Gina");
        Assert.True((await chat.Send(gina, "hi")).IsCommitted);
        Assert.Equal(1, await Count("message", chat));
    }

    [Fact]
    public async Task The_rate_limit_refuses_bursts_beyond_the_bucket_per_identity()
    {
        var chat = await PublishedDatabase(ModuleSettings.Default with { MessagesPerSecond = 0.01, MessageBurst = 3 });
        var (hank, ivy) = (Identity.Random(), Identity.Random());
        var results = new List<ReducerResult>();
        for (var i = 0; i < 5; i++) results.Add(await chat.Send(hank, $"spam {i}"));
        Assert.Equal(3, results.Count(r => r.IsCommitted));
        var limited = results.Last();
        Assert.Equal(ReducerStatus.ResourceExhausted, limited.Status);
        Assert.StartsWith("Too many messages", limited.Error);
        Assert.True((await chat.Send(ivy, "another identity has its own bucket")).IsCommitted);
        Assert.Equal(4, await Count("message", chat));
    }

    [Fact]
    public async Task Settings_are_owner_only_and_apply_to_the_next_call()
    {
        var chat = NewDatabase(out var owner);
        await chat.Publish(owner);
        var grain = fixture.Client.GetDatabaseGrain(chat.Database);
        Assert.Equal(ReducerStatus.PermissionDenied, (await grain.UpdateSettings(Identity.Random(), ModuleSettings.Default)).Status);
        Assert.Equal(ReducerStatus.InvalidArgument, (await grain.UpdateSettings(owner, ModuleSettings.Default with { MaxMessageLength = 0 })).Status);
        await chat.Send(owner, "this is twenty chars");
        Assert.True((await grain.UpdateSettings(owner, ModuleSettings.Default with { MaxMessageLength = 10 })).IsCommitted);
        var tooLong = await chat.Send(owner, "this is twenty chars");
        Assert.Equal("Messages must be at most 10 characters long (this one has 20)", tooLong.Error);
        Assert.Equal(10, (await grain.Describe())!.Settings.MaxMessageLength);
    }

    [Fact]
    public async Task Concurrent_sends_are_group_committed_gap_free_and_in_timestamp_order()
    {
        var chat = await PublishedDatabase(ModuleSettings.Default with { MessagesPerSecond = 0 });
        var senders = Enumerable.Range(0, 50).Select(_ => Identity.Random()).ToArray();
        var calls = Enumerable.Range(0, 1000).Select(i => chat.Send(senders[i % 50], $"message {i}")).ToArray();
        var results = await Task.WhenAll(calls);

        Assert.All(results, r => Assert.True(r.IsCommitted, r.ToString()));
        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), results.Select(r => r.Message!.Offset).Order());

        var rows = await Messages(chat);
        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), rows.Select(r => r.Offset));
        for (var i = 1; i < rows.Count; i++)
            Assert.True(rows[i].Sent > rows[i - 1].Sent, $"timestamp of offset {rows[i].Offset} is not after its predecessor");
        // Every acknowledged message is there, exactly as acknowledged.
        var stored = rows.ToDictionary(r => r.Offset);
        for (var i = 0; i < results.Length; i++)
        {
            var acked = results[i].Message!;
            Assert.Equal((senders[i % 50], acked.Sent, $"message {i}"), (stored[acked.Offset].Sender, stored[acked.Offset].Sent, stored[acked.Offset].Text));
        }
        // Grouped: far fewer transactions than messages (xmin is the inserting transaction).
        var transactions = await TestPostgres.ScalarAsync<long>(_db, """
            SELECT count(DISTINCT m.xmin::text) FROM chat.message m JOIN chat.database d ON d.id = m.database_id WHERE d.name = @name
            """, ("name", chat.Database));
        Assert.True(transactions < 500, $"{transactions} transactions for 1000 messages: the sends were not grouped");
    }
}
