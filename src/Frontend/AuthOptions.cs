using Microsoft.Extensions.Options;

namespace Chat.Frontend;

/// <summary>The <c>Chat:Auth</c> section.</summary>
public sealed class AuthOptions
{
    /// <summary>The issuer of the tokens this service signs.</summary>
    public string Issuer { get; set; } = "chat-on-orleans";

    public string Audience { get; set; } = "chat";

    /// <summary>Base64 of at least 32 random bytes (HMAC-SHA256). Empty: generated once and kept in <see cref="SigningKeyFile"/>.</summary>
    public string? SigningKey { get; set; }

    /// <summary>Where a generated key is kept. Default: <c>gateway/signing-key</c> in the stack's data folder (<c>Chat:DataDirectory</c>).</summary>
    public string? SigningKeyFile { get; set; }

    /// <summary>The key file of a stack whose data folder is <paramref name="dataDirectory"/> (null: the default folder).</summary>
    public static string DefaultSigningKeyFile(string? dataDirectory) =>
        Path.Combine(LocalDataDirectory.Resolve(dataDirectory), "gateway", "signing-key");

    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromDays(365);

    /// <summary>OpenID Connect issuers whose tokens are accepted too; their users' identities derive from (issuer, subject).</summary>
    public List<ExternalIssuer> ExternalIssuers { get; set; } = [];
}

public sealed class ExternalIssuer
{
    public string Issuer { get; set; } = "";

    /// <summary>Expected audience (the client id the issuer puts in <c>aud</c>); required, so that tokens minted for other applications are refused.</summary>
    public string? Audience { get; set; }

    /// <summary>The issuer's JSON Web Key Set (the document at its jwks_uri), inline, since the gateway does not fetch it.</summary>
    public string Jwks { get; set; } = "";
}

/// <summary>
/// Refuses, at start-up, settings under which the gateway would accept tokens minted for any audience: an issuer
/// without an audience would let a token a user got for some other application sign them in here.
/// </summary>
public sealed class AuthOptionsValidation : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Issuer))
            problems.Add("Chat:Auth:Issuer is empty; set it to the name this service signs its tokens with.");
        if (string.IsNullOrWhiteSpace(options.Audience))
            problems.Add("Chat:Auth:Audience is empty, so tokens for any audience would be accepted; set it (default \"chat\").");
        for (var i = 0; i < options.ExternalIssuers.Count; i++)
        {
            var external = options.ExternalIssuers[i];
            var setting = $"Chat:Auth:ExternalIssuers:{i}";
            if (string.IsNullOrWhiteSpace(external.Issuer))
                problems.Add($"{setting}:Issuer is empty; set it to the issuer's iss value.");
            if (string.IsNullOrWhiteSpace(external.Audience))
                problems.Add($"{setting}:Audience is empty, so tokens that issuer minted for any application would be accepted; " +
                             $"set it to the audience (client id) the issuer puts in tokens meant for this service.");
            if (string.IsNullOrWhiteSpace(external.Jwks))
                problems.Add($"{setting}:Jwks is empty; set it to the issuer's JSON Web Key Set.");
            if (string.Equals(external.Issuer, options.Issuer, StringComparison.Ordinal))
                problems.Add($"{setting}:Issuer is this service's own issuer ({options.Issuer}); give the external issuer its own name.");
        }
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
