using Chat.Grains;
using Chat.Storage;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using V1 = Chat.Api.V1;

namespace Chat.Tests;

/// <summary>Issue 13: names that imitate a taken one, carriage returns, and publishes that reset settings, over real gRPC.</summary>
public class TextRulesGatewayTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private TestGateway Gateway => fixture.A;

    private async Task<(string Identity, LiveConnection Connection)> Connected(string database)
    {
        var (identity, token) = await Gateway.CreateIdentityAsync();
        return (identity, await Gateway.ConnectAsync(database, token));
    }

    private async Task<string?> NameOf(string database, string identity) =>
        (await fixture.Cluster.Client.GetUserGrain(database, Identity.Parse(identity)).Read())?.Name;

    public static TheoryData<string, string, StatusCode, string> LookAlikes => new()
    {
        { "zero-width joiner", "Ali\u200Dce", StatusCode.InvalidArgument, "Names must not contain invisible characters such as joiners, fillers or variation selectors (found U+200D)" },
        { "zero-width non-joiner", "Ali\u200Cce", StatusCode.InvalidArgument, "Names must not contain invisible characters such as joiners, fillers or variation selectors (found U+200C)" },
        { "combining grapheme joiner", "Ali\u034Fce", StatusCode.InvalidArgument, "Names must not contain invisible characters such as joiners, fillers or variation selectors (found U+034F)" },
        { "Hangul filler", "Alice\u3164", StatusCode.InvalidArgument, "Names must not contain invisible characters such as joiners, fillers or variation selectors (found U+3164)" },
        { "trailing space", "Alice ", StatusCode.InvalidArgument, "Names must not start or end with white space" },
        { "trailing no-break space", "Alice\u00A0", StatusCode.InvalidArgument, "Names must not start or end with white space" },
        { "no-break space inside", "Mary\u00A0Ann", StatusCode.FailedPrecondition, ChatReducers.NameTaken("Mary\u00A0Ann") },
        { "Cyrillic A", "\u0410lice", StatusCode.FailedPrecondition, ChatReducers.NameTaken("\u0410lice") },
        { "fullwidth A", "\uFF21lice", StatusCode.FailedPrecondition, ChatReducers.NameTaken("\uFF21lice") },
        { "Greek capital alpha", "\u0391LICE", StatusCode.FailedPrecondition, ChatReducers.NameTaken("\u0391LICE") },
    };

    [Theory]
    [MemberData(nameof(LookAlikes))]
    public async Task Look_alikes_of_a_taken_name_are_refused_when_unique_names_is_on(string what, string lookAlike, StatusCode status, string error)
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("lookalike", new V1.DatabaseSettings { UniqueNames = true, MessagesPerSecond = 0 });
        var (_, alice) = await Connected(db);
        Assert.Equal(0, (await alice.CallAsync("set_name", """["Alice"]""")).Outcome.Code);
        var (_, mary) = await Connected(db);
        Assert.Equal(0, (await mary.CallAsync("set_name", """["Mary Ann"]""")).Outcome.Code);

        var (imposterIdentity, imposter) = await Connected(db);
        var refused = await imposter.CallAsync("set_name", System.Text.Json.JsonSerializer.Serialize(new[] { lookAlike }));
        Assert.True((int)status == refused.Outcome.Code, $"{what}: {(StatusCode)refused.Outcome.Code} {refused.Outcome.Error}");
        Assert.Equal(error, refused.Outcome.Error);
        Assert.Null(await NameOf(db, imposterIdentity));
        // A name of its own is still fine.
        Assert.Equal(0, (await imposter.CallAsync("set_name", """["Alicia"]""")).Outcome.Code);
    }

    [Fact]
    public async Task Republishing_with_some_settings_keeps_the_others()
    {
        var (db, owner, _) = await fixture.NewDatabaseAsync("partial", new V1.DatabaseSettings { UniqueNames = true, RequireNameToSend = true, MessagesPerSecond = 0 });

        var again = await Gateway.Databases.PublishAsync(new V1.PublishRequest { Database = db, Settings = new V1.DatabaseSettings { MaxNameLength = 10 } }, TestGateway.Bearer(owner));
        Assert.Equal((10u, true, true, 0d, 4096u), (again.Database.Settings.MaxNameLength, again.Database.Settings.UniqueNames,
            again.Database.Settings.RequireNameToSend, again.Database.Settings.MessagesPerSecond, again.Database.Settings.MaxMessageLength));
        var settings = (await fixture.Cluster.Client.GetDatabaseGrain(db).Describe())!.Settings;
        Assert.Equal(ModuleSettings.Default with { MaxNameLength = 10, UniqueNames = true, RequireNameToSend = true, MessagesPerSecond = 0 }, settings);

        // An empty settings message and none at all change nothing; a clear keeps the settings too.
        await Gateway.Databases.PublishAsync(new V1.PublishRequest { Database = db, Settings = new V1.DatabaseSettings() }, TestGateway.Bearer(owner));
        await Gateway.Databases.PublishAsync(new V1.PublishRequest { Database = db, Clear = true, Settings = new V1.DatabaseSettings { MessageBurst = 7 } }, TestGateway.Bearer(owner));
        Assert.Equal(settings with { MessageBurst = 7 }, (await fixture.Cluster.Client.GetDatabaseGrain(db).Describe())!.Settings);

        // A client that sends every field gets exactly those, as before.
        var all = new V1.DatabaseSettings
        {
            MaxNameLength = 64, MaxMessageLength = 4096, UniqueNames = false, RequireNameToSend = false,
            MessagesPerSecond = 20, MessageBurst = 100, DatabaseMessagesPerSecond = 100, DatabaseMessageBurst = 500,
        };
        await Gateway.Databases.PublishAsync(new V1.PublishRequest { Database = db, Settings = all }, TestGateway.Bearer(owner));
        Assert.Equal(ModuleSettings.Default, (await fixture.Cluster.Client.GetDatabaseGrain(db).Describe())!.Settings);
    }

    [Fact]
    public async Task Chat_publish_sends_only_the_settings_given()
    {
        using var me = new Cli.CliUser(Gateway.Address);
        var db = $"cli-partial-{Guid.NewGuid():N}"[..24];
        await me.OkAsync("publish", db, "--unique-names", "true", "--require-name-to-send", "true", "--messages-per-second", "0");
        var changed = await me.OkAsync("publish", db, "--max-name-length", "12");
        Assert.Contains("the settings given are applied, the others kept", changed.Out);
        await me.OkAsync("publish", db);
        Assert.Equal(ModuleSettings.Default with { MaxNameLength = 12, UniqueNames = true, RequireNameToSend = true, MessagesPerSecond = 0 },
            (await fixture.Cluster.Client.GetDatabaseGrain(db).Describe())!.Settings);
        var bad = await me.RunAsync("publish", db, "--unique-names", "maybe");
        Assert.Equal(Chat.Cli.ExitCodes.Usage, bad.ExitCode);
    }

    [Fact]
    public async Task Keys_stored_by_older_rules_are_recomputed_and_old_look_alikes_keep_their_names()
    {
        var (db, _, _) = await fixture.NewDatabaseAsync("rekey", new V1.DatabaseSettings { UniqueNames = true, MessagesPerSecond = 0 });
        var (first, firstConnection) = await Connected(db);
        var (second, secondConnection) = await Connected(db);
        Assert.Equal(0, (await firstConnection.CallAsync("set_name", """["Alice"]""")).Outcome.Code);
        Assert.Equal(0, (await secondConnection.CallAsync("set_name", """["Bob"]""")).Outcome.Code);

        // As the old rules (lower case only) left them: "Alice" and a Cyrillic "Аlice" side by side.
        await using var data = NpgsqlDataSource.Create(fixture.ConnectionString);
        var databaseId = (await fixture.Cluster.Client.GetDatabaseGrain(db).Describe())!.Id;
        await using (var command = data.CreateCommand("""
            UPDATE chat."user" SET name = CASE WHEN identity = @second THEN 'Аlice' ELSE name END,
                   name_key = CASE WHEN identity = @second THEN 'аlice' ELSE 'alice' END
            WHERE database_id = @db
            """))
        {
            command.Parameters.AddWithValue("second", Identity.Parse(second).ToBytes());
            command.Parameters.AddWithValue("db", databaseId);
            Assert.Equal(2, await command.ExecuteNonQueryAsync());
        }

        var (updated, clashes) = await new NameKeyUpgrade(new UserStore(data), NullLogger<NameKeyUpgrade>.Instance).RunAsync();
        Assert.True(updated >= 2 && clashes >= 1, $"{updated} updated, {clashes} clashes");
        var keys = new Dictionary<string, string>();
        await using (var command = data.CreateCommand("""SELECT identity, name_key FROM chat."user" WHERE database_id = @db"""))
        {
            command.Parameters.AddWithValue("db", databaseId);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) keys[Identity.FromBytes((byte[])reader[0]).ToString()] = reader.GetString(1);
        }
        var held = new[] { keys[first], keys[second] };
        Assert.Contains(NameKeys.Key("Alice"), held);
        Assert.Contains(held, k => k.StartsWith(NameKeys.Key("Alice") + "#", StringComparison.Ordinal));

        // A newcomer still cannot take either look.
        var (_, third) = await Connected(db);
        var refused = await third.CallAsync("set_name", """["ALICE"]""");
        Assert.Equal((int)StatusCode.FailedPrecondition, refused.Outcome.Code);
    }
}
