using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Chat.Tests.Http;

/// <summary>A plain <see cref="HttpClient"/> on the gateway's HTTP API, with the requests SpacetimeDB's curl recipes make.</summary>
public sealed class HttpApi : IDisposable
{
    public HttpClient Client { get; }

    /// <summary>The test gateways speak HTTP/2 only (cleartext, prior knowledge); the stack's HTTP port speaks HTTP/1.1, as curl does.</summary>
    public HttpApi(string address, bool http2)
    {
        Client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        if (http2)
        {
            Client.DefaultRequestVersion = HttpVersion.Version20;
            Client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
    }

    public static HttpApi For(TestGateway gateway) => new(gateway.Address, http2: true);

    public async Task<(string Identity, string Token)> CreateIdentityAsync()
    {
        using var response = await Client.PostAsync("/v1/identity", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (json.RootElement.GetProperty("identity").GetString()!, json.RootElement.GetProperty("token").GetString()!);
    }

    public HttpRequestMessage Request(HttpMethod method, string path, string? token = null, HttpContent? content = null)
    {
        // A request message has its own version: the client's defaults apply only to the requests it makes itself.
        var request = new HttpRequestMessage(method, path) { Content = content, Version = Client.DefaultRequestVersion, VersionPolicy = Client.DefaultVersionPolicy };
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    public async Task<Answer> SendAsync(HttpMethod method, string path, string? token = null, HttpContent? content = null)
    {
        using var response = await Client.SendAsync(Request(method, path, token, content));
        return new Answer(response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType, response.Headers);
    }

    public Task<Answer> CallAsync(string database, string reducer, string argsJson, string? token) =>
        SendAsync(HttpMethod.Post, $"/v1/database/{database}/call/{reducer}", token, Json(argsJson));

    public Task<Answer> SqlAsync(string database, string query, string? token) =>
        SendAsync(HttpMethod.Post, $"/v1/database/{database}/sql", token, new StringContent(query, Encoding.UTF8, "text/plain"));

    public Task<Answer> LogsAsync(string database, string? token, string query = "") =>
        SendAsync(HttpMethod.Get, $"/v1/database/{database}/logs{query}", token);

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>The statement results of a SQL answer: each row as its values, identities and timestamps unwrapped.</summary>
    public static (string[] Columns, List<JsonElement[]> Rows) OnlyStatement(Answer answer)
    {
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        using var json = JsonDocument.Parse(answer.Body);
        var statement = Assert.Single(json.RootElement.EnumerateArray().ToArray());
        var columns = statement.GetProperty("schema").GetProperty("elements").EnumerateArray()
            .Select(e => e.GetProperty("name").GetProperty("some").GetString()!).ToArray();
        var rows = statement.GetProperty("rows").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.Clone()).ToArray()).ToList();
        return (columns, rows);
    }

    /// <summary>The log lines as SpacetimeDB's NDJSON records: (level, target, message).</summary>
    public static List<(string Level, string? Target, string Message)> LogLines(Answer answer)
    {
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("application/x-ndjson", answer.ContentType);
        return answer.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(ParseLogLine).ToList();
    }

    public static (string Level, string? Target, string Message) ParseLogLine(string line)
    {
        using var json = JsonDocument.Parse(line);
        var record = json.RootElement;
        Assert.True(record.GetProperty("ts").GetInt64() > 0);
        return (record.GetProperty("level").GetString()!, record.GetProperty("target").GetString(), record.GetProperty("message").GetString()!);
    }

    public void Dispose() => Client.Dispose();
}

public sealed record Answer(HttpStatusCode Status, string Body, string? ContentType, HttpResponseHeaders Headers)
{
    public int Code => (int)Status;
}
