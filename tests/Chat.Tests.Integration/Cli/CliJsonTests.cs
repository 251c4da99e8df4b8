using System.Text.Json;
using Chat.Cli;

namespace Chat.Tests.Cli;

/// <summary>chat describe, and --format json on every verb: one JSON document on stdout (JSON lines for streams).</summary>
public class CliJsonTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private CliUser NewUser() => new(fixture.A.Address);

    private static string NewDatabaseName() => $"json-{Guid.NewGuid():N}"[..20];

    private static JsonElement Json(CliResult result) => JsonDocument.Parse(result.Out).RootElement;

    [Fact]
    public async Task Describe_shows_tables_reducers_with_their_callers_and_settings()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        await me.OkAsync("publish", db, "--max-message-length", "500");

        var text = await me.OkAsync("describe", db);
        Assert.StartsWith($"Database {db} (owner 0x", text.Out);
        Assert.Contains(text.OutLines, l => l.StartsWith(" User ", StringComparison.Ordinal) && l.Contains("| identity ", StringComparison.Ordinal) && l.Contains("Identity", StringComparison.Ordinal) && l.Contains("primary key", StringComparison.Ordinal));
        Assert.Contains(text.OutLines, l => l.StartsWith(" Message ", StringComparison.Ordinal) && l.Contains("| offset ", StringComparison.Ordinal) && l.Contains("u64", StringComparison.Ordinal));
        Assert.Contains(text.OutLines, l => l.StartsWith(" send_message ", StringComparison.Ordinal) && l.Contains("text: string", StringComparison.Ordinal) && l.Contains("any client", StringComparison.Ordinal));
        Assert.Contains(text.OutLines, l => l.StartsWith(" identity_connected ", StringComparison.Ordinal) && l.Contains("server only", StringComparison.Ordinal));
        Assert.Contains(text.OutLines, l => l.StartsWith(" max_message_length ", StringComparison.Ordinal) && l.TrimEnd().EndsWith("500", StringComparison.Ordinal));

        var json = Json(await me.OkAsync("describe", db, "--format", "json"));
        Assert.Equal(db, json.GetProperty("database").GetString());
        Assert.Equal(["User", "Message"], json.GetProperty("tables").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        Assert.Equal("offset", json.GetProperty("tables")[1].GetProperty("primary_key").GetString());
        var reducers = json.GetProperty("reducers").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!, r => r.GetProperty("client_callable").GetBoolean());
        Assert.Equal(new Dictionary<string, bool> { ["set_name"] = true, ["send_message"] = true, ["identity_connected"] = false, ["identity_disconnected"] = false }, reducers);
        Assert.Equal(500, json.GetProperty("settings").GetProperty("max_message_length").GetInt32());

        var missing = await me.RunAsync("describe", db + "-typo");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("chat list shows the databases", missing.Err);
    }

    [Fact]
    public async Task Every_verb_prints_one_json_document_with_stable_fields()
    {
        using var me = NewUser();
        var db = NewDatabaseName();
        var published = Json(await me.OkAsync("publish", db, "--format", "json"));
        Assert.Equal(db, published.GetProperty("database").GetString());
        Assert.True(published.GetProperty("created").GetBoolean());
        Assert.Equal(4096, published.GetProperty("settings").GetProperty("max_message_length").GetInt32());
        Assert.False(Json(await me.OkAsync("publish", db, "--format", "json")).GetProperty("created").GetBoolean());

        var call = Json(await me.OkAsync("call", db, "send_message", "hi", "--format", "json"));
        Assert.Equal(("send_message", "committed"), (call.GetProperty("reducer").GetString(), call.GetProperty("status").GetString()));

        var list = Json(await me.OkAsync("list", "--format", "json"));
        Assert.Contains(list.EnumerateArray(), d => d.GetProperty("name").GetString() == db && d.GetProperty("owner").GetString()!.StartsWith("0x", StringComparison.Ordinal));

        var logs = await me.OkAsync("logs", db, "--format", "json");
        Assert.All(logs.OutLines, l => Assert.True(JsonDocument.Parse(l).RootElement.TryGetProperty("level", out _))); // JSON lines

        var shown = Json(await me.OkAsync("identity", "show", "--format", "json"));
        var identity = shown.GetProperty("identity").GetString()!;
        Assert.True(shown.GetProperty("default").GetBoolean());
        Assert.False(shown.TryGetProperty("token", out _)); // only with --token
        Assert.True(Json(await me.OkAsync("identity", "show", "--token", "--format", "json")).TryGetProperty("token", out _));
        var bob = Json(await me.OkAsync("identity", "new", "--name", "bob", "--format", "json"));
        Assert.Equal("bob", bob.GetProperty("nickname").GetString());
        Assert.Equal(2, Json(await me.OkAsync("identity", "list", "--format", "json")).GetArrayLength());
        Assert.Equal("bob", Json(await me.OkAsync("identity", "set-default", "bob", "--format", "json")).GetProperty("nickname").GetString());
        var removed = Json(await me.OkAsync("identity", "remove", "bob", "--format", "json"));
        Assert.Equal(identity, removed.GetProperty("default").GetString());

        var added = Json(await me.OkAsync("server", "add", "127.0.0.1:1", "--name", "nowhere", "--format", "json"));
        Assert.Equal(("nowhere", "http://127.0.0.1:1"), (added.GetProperty("nickname").GetString(), added.GetProperty("address").GetString()));
        Assert.Contains(Json(await me.OkAsync("server", "list", "--format", "json")).EnumerateArray(), s => s.GetProperty("nickname").GetString() == "nowhere");
        Assert.Equal("nowhere", Json(await me.OkAsync("server", "set-default", "nowhere", "--format", "json")).GetProperty("nickname").GetString());
        Assert.Equal("nowhere", Json(await me.OkAsync("server", "remove", "nowhere", "--format", "json")).GetProperty("removed").GetString());
        Assert.Contains("complete -o default", Json(await me.OkAsync("completion", "bash", "--format", "json")).GetProperty("script").GetString());

        var deleted = Json(await me.OkAsync("delete", db, "--yes", "--format", "json"));
        Assert.True(deleted.GetProperty("deleted").GetBoolean());

        var client = await me.RunAsync("client", db, "--format", "json");
        Assert.Equal(64, client.ExitCode);
        Assert.Contains("chat subscribe", client.Err);
        Assert.Equal(64, (await me.RunAsync("list", "--format", "yaml")).ExitCode);
    }
}
