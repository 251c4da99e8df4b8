using Chat.Frontend.Delivery;
using System.Net;
using System.Text;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Chat.Frontend.Http;

/// <summary>A refusal of the HTTP API: its status and a text a person can act on, sent as text/plain as SpacetimeDB does.</summary>
public sealed class HttpApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// What every HTTP route needs from the gateway: the caller (the same bearer tokens as the gRPC API), its address,
/// and a request body read within the gateway's request size limit.
/// </summary>
public sealed class HttpApiContext(TokenService tokens, AddressLimits addresses, IOptions<GatewayOptions> options)
{
    /// <summary>SpacetimeDB's status for a reducer that ran and failed (its "user error"); the body is the reducer's error.</summary>
    public const int ReducerFailed = 530;

    /// <summary>Answered to anonymous callers, as SpacetimeDB does, so that a script can keep the identity it was given.</summary>
    public const string IdentityHeader = "spacetime-identity";
    public const string TokenHeader = "spacetime-identity-token";

    public static IPAddress? PeerOf(HttpContext http) => http.Connection.RemoteIpAddress;

    /// <summary>The caller's identity, or null when no token was sent; a bad token is refused, never ignored.</summary>
    public async Task<Identity?> TryIdentityAsync(HttpContext http)
    {
        if (!Authentication.TryBearerToken(http.Request.Headers.Authorization.ToString(), out var token))
            throw new HttpApiException(StatusCodes.Status401Unauthorized, "The Authorization header must be `Bearer <token>` (POST /v1/identity gives you a token).");
        if (token is null) return null;
        var (identity, error) = await tokens.ValidateAsync(token);
        if (identity is null) throw new HttpApiException(StatusCodes.Status401Unauthorized, error!);
        http.Items[Authentication.IdentityItem] = identity.Value;
        return identity;
    }

    public async Task<Identity> RequireIdentityAsync(HttpContext http, string what) =>
        await TryIdentityAsync(http) ?? throw new HttpApiException(StatusCodes.Status401Unauthorized,
            $"{what} needs a token: send `Authorization: Bearer <token>` (POST /v1/identity gives you one).");

    /// <summary>
    /// Like SpacetimeDB, a call without a token runs as a new identity, returned in the response headers. A new identity
    /// is what CreateIdentity hands out, so it draws from the same per-address budget.
    /// </summary>
    public async Task<Identity> IdentityOrAnonymousAsync(HttpContext http)
    {
        if (await TryIdentityAsync(http) is { } identity) return identity;
        addresses.TakeIdentity(PeerOf(http), "An HTTP request without a token");
        var anonymous = Identity.Random();
        http.Response.Headers[IdentityHeader] = anonymous.ToString();
        http.Response.Headers[TokenHeader] = tokens.Issue(anonymous);
        http.Items[Authentication.IdentityItem] = anonymous;
        return anonymous;
    }

    /// <summary>The body as UTF-8 text, refused past the gateway's request size limit (the gRPC API's message limit).</summary>
    public async Task<string> ReadBodyAsync(HttpContext http)
    {
        var limit = options.Value.MaxRequestBytes;
        if (http.Request.ContentLength > limit) throw TooLarge(limit);
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit) throw TooLarge(limit);
            buffer.Write(chunk, 0, read);
        }
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            throw new HttpApiException(StatusCodes.Status400BadRequest, "The request body is not valid UTF-8 text.");
        }
    }

    private static HttpApiException TooLarge(int limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than this gateway accepts ({limit} bytes, Chat:Gateway:MaxRequestBytes).");

    /// <summary>SpacetimeDB takes reducer arguments only as JSON; a missing Content-Type is taken as JSON, for curl's sake.</summary>
    public static void RequireJson(HttpContext http)
    {
        var type = http.Request.ContentType;
        if (string.IsNullOrEmpty(type)) return;
        if (!type.Split(';')[0].Trim().Equals("application/json", StringComparison.OrdinalIgnoreCase))
            throw new HttpApiException(StatusCodes.Status415UnsupportedMediaType,
                $"The arguments must be sent as `Content-Type: application/json` (a JSON array, like [\"Hello\"]), not {type}.");
    }

    /// <summary>The gRPC API's refusals (from the same service code) as the HTTP statuses SpacetimeDB uses for them.</summary>
    public static int ToHttpStatus(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange => StatusCodes.Status400BadRequest,
        StatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
        StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
        StatusCode.NotFound => StatusCodes.Status404NotFound,
        StatusCode.AlreadyExists or StatusCode.Aborted => StatusCodes.Status409Conflict,
        StatusCode.ResourceExhausted => StatusCodes.Status429TooManyRequests,
        StatusCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
        StatusCode.DeadlineExceeded => StatusCodes.Status504GatewayTimeout,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>SpacetimeDB's field names as they are (<c>Success</c>, <c>database_identity</c>), not camel-cased.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions Json = new();

    public static IResult Text(int status, string message) => Results.Text(message + "\n", "text/plain; charset=utf-8", Encoding.UTF8, status);
}
