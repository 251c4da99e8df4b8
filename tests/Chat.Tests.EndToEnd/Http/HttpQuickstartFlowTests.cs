using System.Net;

namespace Chat.Tests.Http;

/// <summary>
/// The README's curl recipe, end to end, against the real stack (silo and gateway in one process) on its HTTP port,
/// over HTTP/1.1 as curl speaks it.
/// </summary>
public class HttpQuickstartFlowTests
{
    [Fact]
    public async Task Create_identity_publish_set_name_send_message_sql_logs_and_delete_over_HTTP_1_1()
    {
        using var stack = StackProcess.Start(await TestPostgres.CreateDatabaseAsync(), clusterId: "http-flow", serviceId: "http-flow");
        await stack.WaitUntilReadyAsync();
        using var http = new HttpApi(stack.HttpAddress, http2: false);

        var (identity, token) = await http.CreateIdentityAsync();
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(HttpMethod.Put, "/v1/database/quickstart-chat", token)).Status);
        Assert.Equal(HttpStatusCode.OK, (await http.CallAsync("quickstart-chat", "set_name", """["Alice"]""", token)).Status);
        Assert.Equal(HttpStatusCode.OK, (await http.CallAsync("quickstart-chat", "send_message", """["Hello, World!"]""", token)).Status);

        var (_, users) = HttpApi.OnlyStatement(await http.SqlAsync("quickstart-chat", "SELECT * FROM User", token));
        Assert.Equal(["0x" + identity, "Alice"], users.Select(r => new[] { r[0][0].GetString()!, r[1].GetString()! }).Single());
        var (_, messages) = HttpApi.OnlyStatement(await http.SqlAsync("quickstart-chat", "SELECT text FROM Message", token));
        Assert.Equal("Hello, World!", Assert.Single(messages)[0].GetString());

        var lines = HttpApi.LogLines(await http.LogsAsync("quickstart-chat", token, "?num_lines=10"));
        Assert.Contains(lines, l => l is { Level: "Info", Target: "send_message", Message: "Hello, World!" });

        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(HttpMethod.Delete, "/v1/database/quickstart-chat", token)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SqlAsync("quickstart-chat", "SELECT * FROM User", token)).Status);
    }
}
