using Grpc.Core;

namespace Chat.Frontend;

/// <summary>Reads the caller's identity from the <c>authorization: Bearer</c> metadata.</summary>
public sealed class Authentication(TokenService tokens)
{
    public const string IdentityItem = "chat.identity";

    /// <summary>The caller's identity; a call without a token, or with a bad one, gets UNAUTHENTICATED.</summary>
    public async Task<Identity> RequireAsync(ServerCallContext context) =>
        await TryAuthenticateAsync(context) ?? throw new RpcException(new Status(StatusCode.Unauthenticated,
            "This call needs a token: send the metadata `authorization: Bearer <token>` (CreateIdentity gives you one)."));

    /// <summary>The caller's identity, or null when no token was sent; a bad token is never ignored.</summary>
    public async Task<Identity?> TryAuthenticateAsync(ServerCallContext context)
    {
        if (!TryBearerToken(context.RequestHeaders.GetValue("authorization"), out var token))
            throw new RpcException(new Status(StatusCode.Unauthenticated, "The authorization metadata must be `Bearer <token>`."));
        if (token is null)
            return null;
        var (identity, error) = await tokens.ValidateAsync(token);
        if (identity is null)
            throw new RpcException(new Status(StatusCode.Unauthenticated, error!));
        context.GetHttpContext().Items[IdentityItem] = identity.Value;
        return identity;
    }

    /// <summary>
    /// The token of an <c>authorization</c> header or metadata value, for gRPC and HTTP alike: null when none was sent;
    /// false when the value is not <c>Bearer &lt;token&gt;</c>.
    /// </summary>
    public static bool TryBearerToken(string? header, out string? token)
    {
        token = null;
        if (string.IsNullOrWhiteSpace(header)) return true;
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return false;
        token = header["Bearer ".Length..].Trim();
        return true;
    }

    public static string RequireDatabaseName(string? database)
    {
        if (DatabaseName.Validate(database) is { } error)
            throw new RpcException(new Status(StatusCode.InvalidArgument, error));
        return database!;
    }
}
