using Grpc.Core;

namespace Chat.Gateway;

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
        var header = context.RequestHeaders.GetValue("authorization");
        if (string.IsNullOrWhiteSpace(header))
            return null;
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            throw new RpcException(new Status(StatusCode.Unauthenticated, "The authorization metadata must be `Bearer <token>`."));
        var (identity, error) = await tokens.ValidateAsync(header["Bearer ".Length..].Trim());
        if (identity is null)
            throw new RpcException(new Status(StatusCode.Unauthenticated, error!));
        context.GetHttpContext().Items[IdentityItem] = identity.Value;
        return identity;
    }

    public static string RequireDatabaseName(string? database)
    {
        if (DatabaseName.Validate(database) is { } error)
            throw new RpcException(new Status(StatusCode.InvalidArgument, error));
        return database!;
    }
}
