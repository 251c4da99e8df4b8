using Chat.Frontend.Delivery;
using Microsoft.AspNetCore.Http;

namespace Chat.Frontend.Http;

/// <summary><c>/v1/identity</c>: new identities and checking a token, with the same tokens and per-address budget as the gRPC <c>CreateIdentity</c>.</summary>
public sealed class IdentityRoutes(TokenService tokens, HttpApiContext api, AddressLimits addresses)
{
    public IResult Create(HttpContext http)
    {
        addresses.TakeIdentity(HttpApiContext.PeerOf(http), "POST /v1/identity");
        var identity = Identity.Random();
        return Results.Json(new { identity = identity.ToString(), token = tokens.Issue(identity) }, HttpApiContext.Json);
    }

    /// <summary>SpacetimeDB's answers: 204 when the token is this identity's, 400 when it is another's, 401 without a valid token.</summary>
    public async Task<IResult> VerifyAsync(string identity, HttpContext http)
    {
        if (!Identity.TryParse(identity, out var claimed, out var error))
            throw new HttpApiException(StatusCodes.Status400BadRequest, error);
        var caller = await api.RequireIdentityAsync(http, "Verifying an identity");
        return caller == claimed
            ? Results.NoContent()
            : HttpApiContext.Text(StatusCodes.Status400BadRequest, $"The token is valid but belongs to identity {caller}, not {claimed}.");
    }
}
