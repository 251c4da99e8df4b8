using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.Tests.Http;

/// <summary>SpacetimeDB's <c>logs</c>, publish, describe, delete and list routes over real HTTP, and the OpenAPI description.</summary>
public class HttpLogsAndDatabasesTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private TestGateway Gateway => fixture.A;

    [Fact]
    public async Task Logs_are_SpacetimeDBs_ndjson_lines_for_the_owner_only_and_num_lines_takes_the_newest()
    {
        using var http = HttpApi.For(Gateway);
        var (db, owner, _) = await fixture.NewDatabaseAsync("http-logs");
        for (var i = 1; i <= 3; i++) Assert.Equal(HttpStatusCode.OK, (await http.CallAsync(db, "send_message", $"[\"line {i}\"]", owner)).Status);

        var all = HttpApi.LogLines(await http.LogsAsync(db, owner));
        Assert.Contains(all, l => l.Message.StartsWith($"Database {db} published by", StringComparison.Ordinal));
        Assert.Equal(["line 1", "line 2", "line 3"], all.Where(l => l is { Level: "Info", Target: "send_message" }).Select(l => l.Message));
        var newest = HttpApi.LogLines(await http.LogsAsync(db, owner, "?num_lines=2&follow=false"));
        Assert.Equal(2, newest.Count);
        Assert.Equal(all.TakeLast(2), newest);

        var (_, stranger) = await http.CreateIdentityAsync();
        var forbidden = await http.LogsAsync(db, stranger);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.Status);
        Assert.Contains("Only the owner", forbidden.Body);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.LogsAsync(db, token: null)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await http.LogsAsync("no-such-db-logs", owner)).Status);
        var badLines = await http.LogsAsync(db, owner, "?num_lines=-1");
        Assert.Equal(HttpStatusCode.BadRequest, badLines.Status);
        Assert.Contains("num_lines", badLines.Body);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.LogsAsync(db, owner, "?follow=yes")).Status);
    }

    [Fact]
    public async Task Follow_streams_new_lines_until_the_client_goes_away_and_holds_a_follower_meanwhile()
    {
        using var http = HttpApi.For(Gateway);
        var (db, owner, _) = await fixture.NewDatabaseAsync("http-follow");
        var before = Gateway.LogFollowing.Followers;
        using var request = http.Request(HttpMethod.Get, $"/v1/database/{db}/logs?num_lines=1&follow=true", owner);
        using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var first = HttpApi.ParseLogLine((await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)))!);
        Assert.StartsWith($"Database {db} published by", first.Message);
        Assert.Equal(before + 1, Gateway.LogFollowing.Followers);

        Assert.Equal(HttpStatusCode.OK, (await http.CallAsync(db, "send_message", """["followed"]""", owner)).Status);
        (string Level, string? Target, string Message) next;
        do next = HttpApi.ParseLogLine((await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)))!);
        while (next.Message != "followed");
        Assert.Equal(("Info", "send_message"), (next.Level, next.Target));

        response.Dispose();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Gateway.LogFollowing.Followers != before && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(before, Gateway.LogFollowing.Followers);
    }

    [Fact]
    public async Task Publish_describe_list_and_delete_follow_SpacetimeDBs_routes_and_only_the_owner_deletes()
    {
        using var http = HttpApi.For(Gateway);
        var (owner, token) = await http.CreateIdentityAsync();
        var (_, stranger) = await http.CreateIdentityAsync();
        var name = $"http-publish-{Guid.NewGuid():N}"[..24];

        var created = await http.SendAsync(HttpMethod.Put, $"/v1/database/{name}", token, HttpApi.Json("""{"unique_names": true, "max_message_length": 100}"""));
        Assert.Equal(HttpStatusCode.OK, created.Status);
        Assert.Equal($$$"""{"Success":{"domain":"{{{name}}}","database_identity":"{{{name}}}","op":"created"}}""", created.Body);
        var updated = await http.SendAsync(HttpMethod.Post, $"/v1/database/{name}?clear=false", token);
        Assert.Contains("\"op\":\"updated\"", updated.Body);
        var taken = await http.SendAsync(HttpMethod.Put, $"/v1/database/{name}", stranger);
        Assert.Equal(HttpStatusCode.Unauthorized, taken.Status);
        Assert.Equal($$$"""{"PermissionDenied":{"name":"{{{name}}}"}}""", taken.Body);
        var wasm = await http.SendAsync(HttpMethod.Put, $"/v1/database/{name}", token, new ByteArrayContent([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
        Assert.Equal(HttpStatusCode.BadRequest, wasm.Status);
        Assert.Contains("takes no module upload", wasm.Body);
        var unknownSetting = await http.SendAsync(HttpMethod.Put, $"/v1/database/{name}", token, HttpApi.Json("""{"unique_name": true}"""));
        Assert.Contains("Unknown setting 'unique_name'", unknownSetting.Body);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(HttpMethod.Put, "/v1/database/http-anonymous-publish")).Status);

        var described = await http.SendAsync(HttpMethod.Get, $"/v1/database/{name}");
        using (var json = JsonDocument.Parse(described.Body))
        {
            Assert.Equal(owner, json.RootElement.GetProperty("owner_identity").GetString());
            Assert.True(json.RootElement.GetProperty("settings").GetProperty("unique_names").GetBoolean());
            Assert.Equal(100, json.RootElement.GetProperty("settings").GetProperty("max_message_length").GetInt32());
        }
        var listed = await http.SendAsync(HttpMethod.Get, $"/v1/identity/{owner}/databases");
        Assert.Equal($$"""{"identities":["{{name}}"]}""", listed.Body);

        var notYours = await http.SendAsync(HttpMethod.Delete, $"/v1/database/{name}", stranger);
        Assert.Equal(HttpStatusCode.Forbidden, notYours.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(HttpMethod.Delete, $"/v1/database/{name}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(HttpMethod.Get, $"/v1/database/{name}")).Status);

        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(HttpMethod.Delete, $"/v1/database/{name}", token)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(HttpMethod.Get, $"/v1/database/{name}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(HttpMethod.Delete, $"/v1/database/{name}", token)).Status);
        Assert.Equal("""{"identities":[]}""", (await http.SendAsync(HttpMethod.Get, $"/v1/identity/{owner}/databases")).Body);
    }

    [Fact]
    public async Task The_OpenAPI_description_lists_every_route_of_the_HTTP_API()
    {
        using var http = HttpApi.For(Gateway);
        var answer = await http.SendAsync(HttpMethod.Get, "/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        using var json = JsonDocument.Parse(answer.Body);
        var paths = json.RootElement.GetProperty("paths");
        var described = paths.EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(m => $"{m.Name.ToUpperInvariant()} {p.Name}"))
            .ToHashSet();

        var routes = Gateway.Services.GetServices<Microsoft.AspNetCore.Routing.EndpointDataSource>()
            .SelectMany(s => s.Endpoints).OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/v1", StringComparison.Ordinal) == true)
            .SelectMany(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()!.HttpMethods
                .Select(m => $"{m} {e.RoutePattern.RawText!.TrimEnd('/')}"))
            .ToList();
        Assert.Equal(11, routes.Count);
        Assert.Equal(routes.ToHashSet(), described); // every route, and nothing but the API
        Assert.Contains("POST /v1/database/{name_or_identity}/call/{reducer}", described);
        Assert.Contains("GET /v1/database/{name_or_identity}/logs", described);
    }
}
