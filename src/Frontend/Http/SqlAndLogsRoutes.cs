using Chat.Frontend.Delivery;
using System.Diagnostics;
using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace Chat.Frontend.Http;

/// <summary>
/// <c>POST /v1/database/:name/sql</c> and <c>GET /v1/database/:name/logs</c>, through the same SQL grain, SQL admission,
/// module log and log followers as the gRPC <c>Sql</c> and <c>Logs</c>.
/// </summary>
public sealed class SqlAndLogsRoutes(
    IGrainFactory grains,
    HttpApiContext api,
    AddressLimits addresses,
    KnownDatabases knownDatabases,
    SqlAdmission sqlAdmission,
    LogFollowing logFollowing,
    IHostApplicationLifetime lifetime)
{
    private const int LogPage = 1000;

    public async Task<IResult> SqlAsync(string nameOrIdentity, HttpContext http)
    {
        var database = Authentication.RequireDatabaseName(nameOrIdentity);
        var query = await api.ReadBodyAsync(http);
        var peer = HttpApiContext.PeerOf(http);
        // As in SpacetimeDB, SQL without a token runs as a new anonymous identity.
        var identity = await api.IdentityOrAnonymousAsync(http);
        knownDatabases.BeforeCall(peer, database);
        using var slot = sqlAdmission.Admit(identity, peer);
        var took = Stopwatch.StartNew();
        var answer = await grains.GetGrain<ISqlGrain>(0).Query(database, query, identity);
        if (answer.Status == ReducerStatus.NotFound) knownDatabases.Gone(database);
        else knownDatabases.Exists(database);
        if (answer.Result is not { } result)
            throw new RpcException(new Status(answer.Status.ToStatusCode(), answer.Error ?? answer.Status.ToString()));
        return Results.Bytes(SatsJson.Statements(result, took.Elapsed), "application/json");
    }

    /// <summary>
    /// SpacetimeDB's log stream: one JSON record a line (<c>application/x-ndjson</c>), oldest first, the form
    /// <c>spacetime logs</c> prints; with <c>follow=true</c> the response stays open and new lines follow until the client
    /// goes away, held like a live connection and counted against the log-follower limit.
    /// </summary>
    public async Task LogsAsync(string nameOrIdentity, HttpContext http)
    {
        var database = Authentication.RequireDatabaseName(nameOrIdentity);
        var numLines = ParseNumLines(http.Request.Query["num_lines"]);
        var follow = ParseFollow(http.Request.Query["follow"]);
        var peer = HttpApiContext.PeerOf(http);
        var caller = await api.RequireIdentityAsync(http, "Reading a database's logs");
        knownDatabases.BeforeCall(peer, database);
        var descriptor = await grains.GetDatabaseGrain(database).Describe();
        if (descriptor is null)
        {
            knownDatabases.Gone(database);
            throw new HttpApiException(StatusCodes.Status404NotFound, $"Database '{database}' does not exist.");
        }
        knownDatabases.Exists(database);
        if (ChatModule.MayNotReadLogs(database, descriptor.Owner, caller) is { } refusal)
            throw new HttpApiException(StatusCodes.Status403Forbidden, refusal);

        using var addressSlot = follow ? addresses.OpenConnection(peer) : null;
        var minimum = ModuleLogLevel.Trace;
        var log = grains.GetModuleLogGrain(database);
        var last = await log.StartOfNewest((int)Math.Min(numLines, int.MaxValue), minimum);
        // Joined before the first line is written, so that the follower limit can still be refused with a status, and
        // before the pages are read, so that nothing committed meanwhile is missed (what both see is written once).
        var (follower, lease) = follow ? logFollowing.Follow(database, minimum, last) : (null, null);
        using (lease)
        {
            http.Response.ContentType = "application/x-ndjson";
            http.Response.Headers.CacheControl = "no-cache";
            using var ending = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
            try
            {
                while (true)
                {
                    var page = await log.ReadAfter(last, minimum, LogPage);
                    foreach (var record in page)
                    {
                        await WriteAsync(http, record, ending.Token);
                        last = record.Id;
                    }
                    if (page.Count < LogPage) break;
                }
                await http.Response.Body.FlushAsync(ending.Token);
                if (follower is null) return;
                await foreach (var record in follower.Records.ReadAllAsync(ending.Token))
                {
                    if (record.Id <= last) continue;
                    await WriteAsync(http, record, ending.Token);
                    await http.Response.Body.FlushAsync(ending.Token);
                    last = record.Id;
                }
                // The gateway ended the follow (this client could not keep up): cut the stream so that it does not look complete.
                http.Abort();
            }
            catch (OperationCanceledException) when (ending.IsCancellationRequested)
            {
                // The follower went away, or the gateway is shutting down.
            }
        }
    }

    private static async Task WriteAsync(HttpContext http, ModuleLogRecord record, CancellationToken cancellation)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("ts", SatsJson.Micros(record.At));
            json.WriteString("level", record.Level.ToString());
            if (record.Reducer is null) json.WriteNull("target");
            else json.WriteString("target", record.Reducer);
            json.WriteNull("filename");
            json.WriteNull("line_number");
            json.WriteString("message", record.Message);
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        await http.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellation);
    }

    private static uint ParseNumLines(string? text)
    {
        if (string.IsNullOrEmpty(text)) return 0; // SpacetimeDB: without num_lines, every line
        return uint.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new HttpApiException(StatusCodes.Status400BadRequest, $"num_lines must be a whole number from 0 to {uint.MaxValue}, not '{LogText.Line(text, 40)}'.");
    }

    private static bool ParseFollow(string? text) => text switch
    {
        null or "" or "false" or "0" => false,
        "true" or "1" => true,
        _ => throw new HttpApiException(StatusCodes.Status400BadRequest, $"follow must be true or false, not '{LogText.Line(text, 40)}'."),
    };
}
