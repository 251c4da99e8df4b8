using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Chat.Frontend;

/// <summary>
/// The browser client (web/, built into this assembly): <c>/</c> lists the databases, <c>/db/&lt;name&gt;</c> is the
/// chat; both are the same page, which talks to this gateway over gRPC-Web.
/// </summary>
public static class WebClientEndpoints
{
    private sealed record Asset(byte[] Content, string ContentType);

    private static readonly Dictionary<string, Asset> Assets = new()
    {
        ["index.html"] = Load("index.html", "text/html; charset=utf-8"),
        ["app.js"] = Load("app.js", "text/javascript; charset=utf-8"),
        ["app.css"] = Load("app.css", "text/css; charset=utf-8"),
    };

    public static IEndpointRouteBuilder MapWebClient(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context) => Serve(context, "index.html"));
        app.MapGet("/db/{database}", (HttpContext context) => Serve(context, "index.html"));
        app.MapGet("/app.js", (HttpContext context) => Serve(context, "app.js"));
        app.MapGet("/app.css", (HttpContext context) => Serve(context, "app.css"));
        return app;
    }

    private static IResult Serve(HttpContext context, string name)
    {
        var asset = Assets[name];
        var headers = context.Response.Headers;
        // The page loads only its own script and style, and talks only to this origin.
        headers.ContentSecurityPolicy = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
        headers.XContentTypeOptions = "nosniff";
        // A rebuilt client must reach browsers after a restart: revalidate rather than keep a stale bundle.
        headers.CacheControl = "no-cache";
        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private static Asset Load(string name, string contentType)
    {
        using var stream = typeof(WebClientEndpoints).Assembly.GetManifestResourceStream("WebClient/" + name)
            ?? throw new InvalidOperationException($"The web client's {name} is not embedded in the gateway; run web/build.sh.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return new Asset(copy.ToArray(), contentType);
    }
}
