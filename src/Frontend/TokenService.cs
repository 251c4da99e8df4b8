using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Chat.Frontend;

/// <summary>
/// Issues and checks the JWTs that carry identities. Our own tokens have the identity as subject; a
/// token from a configured external issuer maps to SHA-256(issuer "|" subject), so the same person
/// always gets the same identity and two issuers can never collide.
/// </summary>
public sealed class TokenService
{
    private readonly AuthOptions _options;
    private readonly SymmetricSecurityKey _signingKey;
    private readonly JsonWebTokenHandler _handler = new();
    private readonly Dictionary<string, TokenValidationParameters> _validation = new(StringComparer.Ordinal);

    public TokenService(IOptions<AuthOptions> options, ILogger<TokenService> logger)
    {
        _options = options.Value;
        _signingKey = new SymmetricSecurityKey(LoadOrCreateKey(_options, logger));
        _validation[_options.Issuer] = Parameters(_options.Issuer, _options.Audience, [_signingKey]);
        foreach (var external in _options.ExternalIssuers)
        {
            var keys = new JsonWebKeySet(external.Jwks).GetSigningKeys();
            _validation[external.Issuer] = Parameters(external.Issuer, external.Audience, keys);
        }
    }

    public string Issue(Identity identity)
    {
        var now = DateTime.UtcNow;
        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _options.Issuer,
            Audience = _options.Audience,
            Subject = new ClaimsIdentity([new Claim(JwtRegisteredClaimNames.Sub, identity.ToString())]),
            IssuedAt = now,
            NotBefore = now,
            Expires = now + _options.TokenLifetime,
            SigningCredentials = new SigningCredentials(_signingKey, SecurityAlgorithms.HmacSha256),
        });
    }

    /// <returns>The identity, or why the token is refused (for an UNAUTHENTICATED status).</returns>
    public async Task<(Identity? Identity, string? Error)> ValidateAsync(string token)
    {
        JsonWebToken unverified;
        try
        {
            unverified = _handler.ReadJsonWebToken(token);
        }
        catch (Exception)
        {
            return (null, "The token is malformed: expected a JWT (three base64url parts separated by dots).");
        }
        // Keys are chosen by the issuer the token names, so one issuer's key can never vouch for another's tokens.
        if (!_validation.TryGetValue(unverified.Issuer ?? "", out var parameters))
            return (null, $"Tokens from issuer '{unverified.Issuer}' are not accepted here.");
        var result = await _handler.ValidateTokenAsync(token, parameters);
        if (!result.IsValid)
            return (null, result.Exception switch
            {
                SecurityTokenExpiredException => "The token has expired; create a new identity or sign in again.",
                SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "The token's signature is not valid.",
                SecurityTokenInvalidAudienceException => "The token is for another audience.",
                _ => "The token is not valid: " + result.Exception?.Message,
            });
        var subject = (result.SecurityToken as JsonWebToken)?.Subject;
        if (string.IsNullOrEmpty(subject))
            return (null, "The token has no subject.");
        if (unverified.Issuer != _options.Issuer)
            return (DeriveIdentity(unverified.Issuer!, subject), null);
        return Identity.TryParse(subject, out var identity, out _) ? (identity, null) : (null, "The token's subject is not an identity.");
    }

    public static Identity DeriveIdentity(string issuer, string subject) =>
        Identity.FromBytes(SHA256.HashData(Encoding.UTF8.GetBytes(issuer + "|" + subject)));

    private static TokenValidationParameters Parameters(string issuer, string? audience, IEnumerable<SecurityKey> keys) => new()
    {
        ValidIssuer = issuer,
        // Always: an empty audience is refused at start-up (AuthOptionsValidation), never taken as "any".
        ValidateAudience = true,
        ValidAudience = audience,
        IssuerSigningKeys = keys,
        ValidateLifetime = true,
        RequireExpirationTime = true,
        ClockSkew = TimeSpan.FromMinutes(1),
    };

    private static byte[] LoadOrCreateKey(AuthOptions options, ILogger logger)
    {
        if (!string.IsNullOrWhiteSpace(options.SigningKey))
        {
            var configured = Convert.FromBase64String(options.SigningKey);
            if (configured.Length < 32)
                throw new InvalidOperationException("Chat:Auth:SigningKey must be base64 of at least 32 bytes.");
            return configured;
        }
        var file = string.IsNullOrWhiteSpace(options.SigningKeyFile) ? AuthOptions.DefaultSigningKeyFile(null) : options.SigningKeyFile;
        if (File.Exists(file))
            return ReadKeyFile(file, logger);
        var key = RandomNumberGenerator.GetBytes(64);
        var folder = Path.GetDirectoryName(Path.GetFullPath(file))!;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
        else Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            // Created 0600 from the start: a key written first and narrowed after could be read in between.
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var writer = new StreamWriter(file, create))
                writer.Write(Convert.ToBase64String(key));
        }
        catch (IOException) when (File.Exists(file))
        {
            // Another gateway on the same data folder generated it first: theirs is the key.
            return ReadKeyFile(file, logger);
        }
        logger.SigningKeyGenerated(file);
        return key;
    }

    private static byte[] ReadKeyFile(string file, ILogger logger)
    {
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(file) & ~OwnerOnly) != 0)
        {
            // Keys written by earlier versions could be readable by every local user, who could then mint tokens.
            File.SetUnixFileMode(file, OwnerOnly);
            logger.SigningKeyMadePrivate(file);
        }
        return Convert.FromBase64String(File.ReadAllText(file).Trim());
    }
}
