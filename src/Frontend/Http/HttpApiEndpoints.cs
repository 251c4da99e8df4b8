using System.Text.Json.Serialization;
using Chat.Frontend.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Chat.Frontend;

/// <summary>
/// SpacetimeDB's HTTP API (<c>/v1/identity</c>, <c>/v1/database</c>), so that its curl recipes work here, as minimal-API
/// endpoints over the gateway's own services rather than gRPC JSON transcoding: SpacetimeDB's shapes (a text/plain SQL
/// body, a bare JSON array of arguments, NDJSON log lines, status 530 for a failed reducer) are not protobuf messages,
/// and transcoding would need a wrapper message and a custom body mapping for each. Described at <c>/openapi/v1.json</c>.
/// </summary>
public static class HttpApiEndpoints
{
    public static IServiceCollection AddChatHttpApi(this IServiceCollection services)
    {
        services.AddSingleton<HttpApiContext>();
        services.AddSingleton<HttpApiErrors>();
        services.AddSingleton<IdentityRoutes>();
        services.AddSingleton<DatabaseRoutes>();
        services.AddSingleton<ReducerRoute>();
        services.AddSingleton<SqlAndLogsRoutes>();
        services.AddOpenApi(o =>
        {
            // The /v1 API only: not the health probes, nor the Orleans dashboard a silo-hosted gateway shares its port with.
            o.ShouldInclude = description => description.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) == true;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Chat on Orleans: SpacetimeDB-shaped HTTP API";
                document.Info.Description = "The routes of SpacetimeDB's /v1 HTTP API that map onto the chat module. Errors are text/plain.";
                return Task.CompletedTask;
            });
        });
        return services;
    }

    public static IEndpointRouteBuilder MapChatHttpApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").AddEndpointFilter<HttpApiErrors>();

        v1.MapGet("/ping", () => Results.Ok())
            .WithName("Ping").WithSummary("Does nothing; answers 200 when the gateway is reachable.").WithTags("identity");

        var identity = v1.MapGroup("/identity").WithTags("identity");
        identity.MapPost("", (HttpContext http, IdentityRoutes routes) => routes.Create(http))
            .WithName("CreateIdentity").WithSummary("A new identity and its token: {identity, token}.")
            .Produces<IdentityAndToken>().Produces(429, contentType: text);
        identity.MapGet("/{identity}/verify", (string identity, HttpContext http, IdentityRoutes routes) => routes.VerifyAsync(identity, http))
            .WithName("VerifyIdentity").WithSummary("204 if the bearer token is this identity's, 400 if another's, 401 without a valid token.")
            .Produces(204).Produces(400, contentType: text).Produces(401, contentType: text);
        identity.MapGet("/{identity}/databases", (string identity, DatabaseRoutes routes) => routes.ListOwnedAsync(identity))
            .WithName("ListDatabases").WithSummary("The names of the databases this identity owns: {identities: [...]}.")
            .Produces<OwnedDatabases>().Produces(400, contentType: text);

        var database = v1.MapGroup("/database/{name_or_identity}").WithTags("database");
        database.MapPut("", (string name_or_identity, HttpContext http, DatabaseRoutes routes) => routes.PublishAsync(name_or_identity, http))
            .WithName("Publish").WithSummary("Creates the database, or updates its settings; ?clear=true empties it. Body: empty, or a JSON object of settings.")
            .WithRequestBody("application/json", "Empty, or a JSON object of settings, like {\"unique_names\": true}.").Produces<PublishSuccess>().Produces(400, contentType: text).Produces(401);
        database.MapPost("", (string name_or_identity, HttpContext http, DatabaseRoutes routes) => routes.PublishAsync(name_or_identity, http))
            .WithName("PublishPost").WithSummary("The same as PUT (SpacetimeDB's older publish route).")
            .WithRequestBody("application/json", "Empty, or a JSON object of settings, like {\"unique_names\": true}.").Produces<PublishSuccess>().Produces(400, contentType: text).Produces(401);
        database.MapGet("", (string name_or_identity, DatabaseRoutes routes) => routes.DescribeAsync(name_or_identity))
            .WithName("DescribeDatabase").WithSummary("The database's owner, creation time and settings.")
            .Produces(200, contentType: "application/json").Produces(404, contentType: text);
        database.MapDelete("", (string name_or_identity, HttpContext http, DatabaseRoutes routes) => routes.DeleteAsync(name_or_identity, http))
            .WithName("DeleteDatabase").WithSummary("Deletes the database and its rows; the owner only.")
            .Produces(200).Produces(401, contentType: text).Produces(403, contentType: text).Produces(404, contentType: text);
        database.MapPost("/call/{reducer}", (string name_or_identity, string reducer, HttpContext http, ReducerRoute route) => route.CallAsync(name_or_identity, reducer, http))
            .WithName("CallReducer").WithSummary("Calls a reducer with a JSON array of arguments. 530: the reducer failed (body: its error).")
            .WithRequestBody("application/json", "The reducer's arguments as a JSON array, like [\"Hello, World!\"].").Produces(200).Produces(400, contentType: text).Produces(404, contentType: text)
            .Produces(415, contentType: text).Produces(429, contentType: text).Produces(HttpApiContext.ReducerFailed, contentType: text);
        database.MapPost("/sql", (string name_or_identity, HttpContext http, SqlAndLogsRoutes routes) => routes.SqlAsync(name_or_identity, http))
            .WithName("Sql").WithSummary("Runs a SQL query (the body, as text); answers [{schema, rows, total_duration_micros, stats}].")
            .WithRequestBody(text, "One SQL query.").Produces(200, contentType: "application/json").Produces(400, contentType: text).Produces(404, contentType: text)
            .Produces(429, contentType: text);
        database.MapGet("/logs", (string name_or_identity, HttpContext http, SqlAndLogsRoutes routes) => routes.LogsAsync(name_or_identity, http))
            .WithName("Logs").WithSummary("The module log, one JSON record a line; ?num_lines=N for the newest N, ?follow=true to keep streaming. The owner only.")
            .Produces(200, contentType: "application/x-ndjson").Produces(401, contentType: text).Produces(403, contentType: text)
            .Produces(404, contentType: text).Produces(429, contentType: text);

        app.MapOpenApi();
        return app;
    }

    /// <summary>
    /// The body in the OpenAPI description only: <c>Accepts</c> would also make routing refuse other content types with
    /// an empty 415, where SpacetimeDB takes SQL as any text and a refused call deserves a reason.
    /// </summary>
    private static RouteHandlerBuilder WithRequestBody(this RouteHandlerBuilder route, string contentType, string description) =>
        route.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.RequestBody = new Microsoft.OpenApi.OpenApiRequestBody
            {
                Description = description,
                Required = contentType == text,
                Content = new Dictionary<string, Microsoft.OpenApi.OpenApiMediaType> { [contentType] = new() },
            };
            return Task.CompletedTask;
        });

    private const string text = "text/plain";

    // Shapes for the OpenAPI description only; the routes write the same JSON.
    public sealed record IdentityAndToken(string identity, string token);
    public sealed record OwnedDatabases(string[] identities);
    public sealed record PublishSuccess(PublishedDatabase Success);
    public sealed record PublishedDatabase(
        [property: JsonPropertyName("domain")] string Domain,
        [property: JsonPropertyName("database_identity")] string DatabaseIdentity,
        [property: JsonPropertyName("op")] string Op);
}
