using Chat.Frontend.Delivery;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Chat.Frontend.Http;

/// <summary>
/// Publish, describe, delete and list databases, SpacetimeDB's routes on the same grains as the gRPC <c>Databases</c>
/// service. Here a database is a name: where SpacetimeDB answers a database identity, this answers the name, which every
/// route accepts in its place.
/// </summary>
public sealed class DatabaseRoutes(IGrainFactory grains, HttpApiContext api, AddressLimits addresses, ILogger<DatabaseRoutes> logger)
{
    /// <summary>
    /// <c>PUT</c> (or the older <c>POST</c>) <c>/v1/database/:name?clear=</c>. SpacetimeDB uploads a WASM module here; this
    /// server runs one built-in chat module, so the body is empty or a JSON object of the module's settings.
    /// </summary>
    public async Task<IResult> PublishAsync(string nameOrIdentity, HttpContext http)
    {
        var name = Authentication.RequireDatabaseName(nameOrIdentity);
        var clear = ParseBool(http.Request.Query["clear"], "clear");
        var settings = ParseSettings(await api.ReadBodyAsync(http));
        // SpacetimeDB would make an anonymous owner here ("generally not what you want"); a database nobody can delete is refused instead.
        var owner = await api.RequireIdentityAsync(http, "Publishing a database");
        addresses.TakeWrite(HttpApiContext.PeerOf(http));
        var published = await grains.GetDatabaseGrain(name).Publish(owner, clear, settings);
        if (published.Result.Status == ReducerStatus.PermissionDenied)
            // SpacetimeDB's answer to publishing over someone else's database.
            return Results.Json(new { PermissionDenied = new { name } }, HttpApiContext.Json, statusCode: StatusCodes.Status401Unauthorized);
        published.Result.OrThrow();
        logger.DatabasePublishedOverHttp(name, owner, published.Created, clear);
        return Results.Json(new { Success = new { domain = name, database_identity = name, op = published.Created ? "created" : "updated" } }, HttpApiContext.Json);
    }

    /// <summary><c>GET /v1/database/:name</c>: SpacetimeDB's description, with this module's settings in place of a program hash.</summary>
    public async Task<IResult> DescribeAsync(string nameOrIdentity)
    {
        var name = Authentication.RequireDatabaseName(nameOrIdentity);
        var database = await grains.GetDatabaseGrain(name).Describe()
                       ?? throw new HttpApiException(StatusCodes.Status404NotFound, $"Database '{name}' does not exist.");
        var s = database.Settings;
        return Results.Json(new
        {
            database_identity = database.Name,
            owner_identity = database.Owner.ToString(),
            host_type = "chat",
            created_at = database.CreatedAt.ToString("O"),
            settings = new
            {
                max_name_length = s.MaxNameLength, max_message_length = s.MaxMessageLength, unique_names = s.UniqueNames,
                require_name_to_send = s.RequireNameToSend, messages_per_second = s.MessagesPerSecond, message_burst = s.MessageBurst,
                database_messages_per_second = s.DatabaseMessagesPerSecond, database_message_burst = s.DatabaseMessageBurst,
            },
        }, HttpApiContext.Json);
    }

    /// <summary><c>DELETE /v1/database/:name</c>: the owner only, as in SpacetimeDB.</summary>
    public async Task<IResult> DeleteAsync(string nameOrIdentity, HttpContext http)
    {
        var name = Authentication.RequireDatabaseName(nameOrIdentity);
        var caller = await api.RequireIdentityAsync(http, "Deleting a database");
        addresses.TakeWrite(HttpApiContext.PeerOf(http));
        (await grains.GetDatabaseGrain(name).Delete(caller)).OrThrow();
        logger.DatabaseDeletedOverHttp(name, caller);
        return Results.Ok();
    }

    /// <summary><c>GET /v1/identity/:identity/databases</c>: the databases an identity owns, <c>{"identities": [...]}</c> as in SpacetimeDB.</summary>
    public async Task<IResult> ListOwnedAsync(string identity)
    {
        if (!Identity.TryParse(identity, out var owner, out var error))
            throw new HttpApiException(StatusCodes.Status400BadRequest, error);
        var owned = (await grains.GetGrain<IDatabaseCatalogGrain>(0).List()).Where(d => d.Owner == owner).Select(d => d.Name).ToArray();
        return Results.Json(new { identities = owned }, HttpApiContext.Json);
    }

    private static bool ParseBool(string? text, string name) => text switch
    {
        null or "" or "false" or "0" => false,
        "true" or "1" => true,
        _ => throw new HttpApiException(StatusCodes.Status400BadRequest, $"{name} must be true or false, not '{LogText.Line(text, 40)}'."),
    };

    private const string SettingsHelp =
        "This server runs one built-in chat module and takes no module upload: send an empty body, or a JSON object of settings " +
        "(max_name_length, max_message_length, unique_names, require_name_to_send, messages_per_second, message_burst, " +
        "database_messages_per_second, database_message_burst), like {\"unique_names\": true}.";

    /// <summary>Only the settings the body names change, as with the gRPC Publish; the grain checks their ranges.</summary>
    private static SettingsChange? ParseSettings(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            throw new HttpApiException(StatusCodes.Status400BadRequest, "The body is not JSON. " + SettingsHelp);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new HttpApiException(StatusCodes.Status400BadRequest, "The body must be a JSON object. " + SettingsHelp);
            var change = new SettingsChange();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var value = property.Value;
                change = property.Name switch
                {
                    "max_name_length" => change with { MaxNameLength = Int(property) },
                    "max_message_length" => change with { MaxMessageLength = Int(property) },
                    "unique_names" => change with { UniqueNames = Bool(property) },
                    "require_name_to_send" => change with { RequireNameToSend = Bool(property) },
                    "messages_per_second" => change with { MessagesPerSecond = Number(property) },
                    "message_burst" => change with { MessageBurst = Int(property) },
                    "database_messages_per_second" => change with { DatabaseMessagesPerSecond = Number(property) },
                    "database_message_burst" => change with { DatabaseMessageBurst = Int(property) },
                    _ => throw new HttpApiException(StatusCodes.Status400BadRequest, $"Unknown setting '{LogText.Line(property.Name, 64)}'. " + SettingsHelp),
                };
            }
            return change;
        }
    }

    private static int Int(JsonProperty p) =>
        p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var n) && n >= 0 ? n
            : throw new HttpApiException(StatusCodes.Status400BadRequest, $"{p.Name} must be a whole number from 0 to {int.MaxValue}.");

    private static double Number(JsonProperty p) =>
        p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetDouble(out var n) && double.IsFinite(n) && n >= 0 ? n
            : throw new HttpApiException(StatusCodes.Status400BadRequest, $"{p.Name} must be a number, 0 or more.");

    private static bool Bool(JsonProperty p) => p.Value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new HttpApiException(StatusCodes.Status400BadRequest, $"{p.Name} must be true or false."),
    };
}
