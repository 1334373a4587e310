using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gatehouse.Identity;

/// <summary>
/// Validates the JWT access tokens clients send as their Postgres password. One per gateway; thread-safe.
/// <code>
///  token ─► size/shape ─► cache (SHA-256, until exp) ─hit─► identity
///              │ miss
///              ▼
///          parse header+payload ─► alg allow-list ─► iss: dev issuer (in-process key)
///                                                    │   or identity.issuer (JWKS via discovery,
///                                                    │      refetched once per 30 s on unknown kid)
///                                                    ▼
///          signature + aud (JsonWebTokenHandler) ─► exp/nbf ± clock_skew (injected clock) ─► cache ─► identity
/// </code>
/// Every refusal is a <see cref="TokenValidationOutcome"/> with a reason that never contains the token.
/// </summary>
public sealed class TokenValidator
{
    /// <summary>Longer passwords are refused before any parsing.</summary>
    public const int MaxTokenLength = 16 * 1024;

    /// <summary>Signed with a private key only: never <c>none</c>, never HMAC (a public key must not become a shared secret).</summary>
    public static readonly IReadOnlyList<string> AllowedAlgorithms =
        ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    private const int CacheCapacity = 10_000;

    private readonly IdentityOptions _options;
    private readonly DevIssuer? _devIssuer;
    private readonly IssuerMetadata? _issuer;
    private readonly TimeProvider _time;
    private readonly JsonWebTokenHandler _handler = new();
    private readonly ValidatedTokenCache _cache = new(CacheCapacity);
    private readonly string _expectedAudiences;

    /// <param name="options">The identity section.</param>
    /// <param name="devIssuer">Required when <see cref="IdentityOptions.DevIssuer"/> is true; ignored (never trusted) otherwise.</param>
    /// <param name="time">Clock for exp/nbf and refresh intervals.</param>
    /// <param name="http">For discovery and JWKS; a private client is made when null.</param>
    public TokenValidator(IdentityOptions options, DevIssuer? devIssuer, TimeProvider time, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        if (options.Audiences is not { Count: > 0 } || options.Audiences.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("identity.audiences must name at least one audience", nameof(options));
        }

        if (options.ClockSkew < TimeSpan.Zero)
        {
            throw new ArgumentException("identity.clock_skew must not be negative", nameof(options));
        }

        if (options.DevIssuer && devIssuer is null)
        {
            throw new ArgumentException("identity.dev_issuer is on but no DevIssuer was given", nameof(devIssuer));
        }

        if (string.IsNullOrWhiteSpace(options.Issuer) && !options.DevIssuer)
        {
            throw new ArgumentException("identity.issuer is required unless identity.dev_issuer is on", nameof(options));
        }

        _options = options;
        _time = time;
        _devIssuer = options.DevIssuer ? devIssuer : null;
        _expectedAudiences = string.Join(", ", options.Audiences);
        if (!string.IsNullOrWhiteSpace(options.Issuer))
        {
            if (!Uri.TryCreate(options.Issuer, UriKind.Absolute, out var issuerUri) || (issuerUri.Scheme != Uri.UriSchemeHttps && !(issuerUri.Scheme == Uri.UriSchemeHttp && issuerUri.IsLoopback)))
            {
                throw new ArgumentException($"identity.issuer '{options.Issuer}' must be an https URL (http only for a loopback host)", nameof(options));
            }

            _issuer = new IssuerMetadata(options.Issuer, http ?? new HttpClient(), time);
        }
    }

    /// <summary>Test seam: the metadata cache of the external issuer, to shorten its intervals.</summary>
    internal IssuerMetadata? ExternalIssuer => _issuer;

    internal int CachedTokens => _cache.Count;

    /// <summary>Validates <paramref name="token"/>. Never throws for bad input; only cancellation escapes.</summary>
    public ValueTask<TokenValidationOutcome> ValidateAsync(string token, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(token))
        {
            return Fail(AuthFailure.Malformed, "empty password; expected an OIDC access token (JWT)");
        }

        if (token.Length > MaxTokenLength)
        {
            return Fail(AuthFailure.Malformed, $"token is longer than {MaxTokenLength} characters");
        }

        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        string tokenHash = Convert.ToHexStringLower(hash);
        if (_cache.Find(tokenHash, hash) is { } cached)
        {
            var now = _time.GetUtcNow();
            if (now <= cached.ExpiresAt + _options.ClockSkew)
            {
                return ValueTask.FromResult(TokenValidationOutcome.Success(cached));
            }

            _cache.Remove(tokenHash);
            return Fail(AuthFailure.Expired, Expired(cached.ExpiresAt));
        }

        return ValidateUncachedAsync(token, tokenHash, hash, ct);
    }

    private async ValueTask<TokenValidationOutcome> ValidateUncachedAsync(string token, string tokenHash, byte[] hash, CancellationToken ct)
    {
        if (!TryParse(token, out var jwt, out var malformed))
        {
            return TokenValidationOutcome.Fail(AuthFailure.Malformed, malformed);
        }

        if (!AllowedAlgorithms.Contains(jwt.Algorithm, StringComparer.Ordinal))
        {
            return TokenValidationOutcome.Fail(AuthFailure.AlgorithmNotAllowed, string.Equals(jwt.Algorithm, "none", StringComparison.OrdinalIgnoreCase)
                ? "unsigned token (alg none) is not accepted"
                : $"signing algorithm '{Printable(jwt.Algorithm)}' is not accepted (allowed: {string.Join(", ", AllowedAlgorithms)})");
        }

        IReadOnlyList<SecurityKey> keys;
        if (_devIssuer is not null && string.Equals(jwt.Issuer, _devIssuer.IssuerUrl, StringComparison.Ordinal))
        {
            keys = SelectKeys([_devIssuer.ValidationKey], jwt.KeyId);
            if (keys.Count == 0)
            {
                return TokenValidationOutcome.Fail(AuthFailure.UnknownSigningKey,
                    $"signing key '{Printable(jwt.KeyId!)}' is not the dev issuer's key (minted with another state directory?)");
            }
        }
        else if (_issuer is not null && string.Equals(jwt.Issuer.TrimEnd('/'), _issuer.Issuer.TrimEnd('/'), StringComparison.Ordinal))
        {
            var metadata = await _issuer.GetAsync(ct);
            if (metadata is null)
            {
                return TokenValidationOutcome.Fail(AuthFailure.IssuerUnreachable, $"issuer unreachable: {_issuer.LastError}");
            }

            keys = SelectKeys(metadata.Keys, jwt.KeyId);
            if (keys.Count == 0)
            {
                metadata = await _issuer.RefreshForUnknownKeyAsync(ct);
                keys = metadata is null ? [] : SelectKeys(metadata.Keys, jwt.KeyId);
            }
        }
        else
        {
            return TokenValidationOutcome.Fail(AuthFailure.UnknownIssuer, $"issuer '{Printable(jwt.Issuer)}' is not trusted");
        }

        if (keys.Count == 0)
        {
            return TokenValidationOutcome.Fail(AuthFailure.UnknownSigningKey, jwt.KeyId is null
                ? "the issuer publishes no signing key"
                : $"signing key '{Printable(jwt.KeyId)}' is not in the issuer's JWKS");
        }

        var failure = await VerifySignatureAndAudienceAsync(token, jwt, keys);
        if (failure is not null)
        {
            return failure;
        }

        var now = _time.GetUtcNow();
        if (now > jwt.ExpiresAt + _options.ClockSkew)
        {
            return TokenValidationOutcome.Fail(AuthFailure.Expired, Expired(jwt.ExpiresAt));
        }

        if (jwt.NotBefore is { } notBefore && now + _options.ClockSkew < notBefore)
        {
            return TokenValidationOutcome.Fail(AuthFailure.NotYetValid, $"token is not valid before {Format(notBefore)}");
        }

        var identity = new ValidatedIdentity
        {
            Subject = jwt.Subject,
            Issuer = jwt.Issuer,
            ExpiresAt = jwt.ExpiresAt,
            Claims = jwt.Payload,
            TokenHash = tokenHash,
        };
        _cache.Add(identity, hash, now);
        return TokenValidationOutcome.Success(identity);
    }

    private async ValueTask<TokenValidationOutcome?> VerifySignatureAndAudienceAsync(string token, ParsedToken jwt, IReadOnlyList<SecurityKey> keys)
    {
        var parameters = new TokenValidationParameters
        {
            IssuerSigningKeys = keys,
            TryAllIssuerSigningKeys = true,
            ValidAlgorithms = AllowedAlgorithms,
            RequireSignedTokens = true,
            ValidateIssuer = true,
            ValidIssuer = jwt.Issuer,
            ValidateAudience = true,
            ValidAudiences = _options.Audiences,
            // Lifetime is checked afterwards on the injected clock, with reasons of our own.
            ValidateLifetime = false,
            RequireExpirationTime = false,
            ValidateIssuerSigningKey = false,
            ValidateTokenReplay = false,
        };

        TokenValidationResult result;
        try
        {
            result = await _handler.ValidateTokenAsync(token, parameters);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenException or JsonException or FormatException)
        {
            return TokenValidationOutcome.Fail(AuthFailure.Malformed, "token could not be parsed");
        }

        if (result.IsValid)
        {
            return null;
        }

        return result.Exception switch
        {
            SecurityTokenInvalidAudienceException => TokenValidationOutcome.Fail(AuthFailure.WrongAudience,
                jwt.Audience is null
                    ? $"token has no audience (expected one of: {_expectedAudiences})"
                    : $"token audience '{Printable(jwt.Audience)}' is not accepted (expected one of: {_expectedAudiences})"),
            SecurityTokenInvalidIssuerException => TokenValidationOutcome.Fail(AuthFailure.UnknownIssuer, $"issuer '{Printable(jwt.Issuer)}' is not trusted"),
            SecurityTokenInvalidAlgorithmException => TokenValidationOutcome.Fail(AuthFailure.AlgorithmNotAllowed, $"signing algorithm '{Printable(jwt.Algorithm)}' does not fit the issuer's key"),
            SecurityTokenMalformedException => TokenValidationOutcome.Fail(AuthFailure.Malformed, "token could not be parsed"),
            // Keys were already chosen by kid, so any other failure here is a signature that does not verify.
            _ => TokenValidationOutcome.Fail(AuthFailure.BadSignature, "bad signature: the token was not signed by the issuer's key"),
        };
    }

    private static List<SecurityKey> SelectKeys(IReadOnlyList<SecurityKey> keys, string? keyId) =>
        keyId is null ? [.. keys] : [.. keys.Where(k => string.Equals(k.KeyId, keyId, StringComparison.Ordinal))];

    /// <summary>Splits and decodes the token without trusting it; every failure becomes a reason.</summary>
    private static bool TryParse(string token, out ParsedToken parsed, out string reason)
    {
        parsed = default!;
        int dots = token.AsSpan().Count('.');
        if (dots == 4)
        {
            reason = "encrypted tokens (JWE) are not supported; send a signed JWT access token";
            return false;
        }

        if (dots != 2)
        {
            reason = "not a JWT access token (expected header.payload.signature)";
            return false;
        }

        int first = token.IndexOf('.', StringComparison.Ordinal);
        int second = token.IndexOf('.', first + 1);
        if (!TryDecodeObject(token.AsSpan(0, first), out var header) || !TryDecodeObject(token.AsSpan(first + 1, second - first - 1), out var payload))
        {
            reason = "not a JWT access token (header or payload is not base64url-encoded JSON)";
            return false;
        }

        if (RepeatedName(header) is { } repeatedHeader)
        {
            reason = $"token header repeats \"{Printable(repeatedHeader)}\"";
            return false;
        }

        if (RepeatedName(payload) is { } repeatedClaim)
        {
            reason = $"token repeats claim \"{Printable(repeatedClaim)}\"";
            return false;
        }

        if (CriticalHeaderProblem(header) is { } critical)
        {
            reason = critical;
            return false;
        }

        if (second == token.Length - 1 && !(header.TryGetProperty("alg", out var a) && a.ValueKind == JsonValueKind.String && a.GetString() == "none"))
        {
            reason = "token has no signature";
            return false;
        }

        if (!header.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String)
        {
            reason = "token header has no 'alg'";
            return false;
        }

        string? keyId = header.TryGetProperty("kid", out var kid) && kid.ValueKind == JsonValueKind.String ? kid.GetString() : null;
        if (!payload.TryGetProperty("iss", out var iss) || iss.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(iss.GetString()))
        {
            reason = "token has no 'iss' claim";
            return false;
        }

        if (!payload.TryGetProperty("sub", out var sub) || sub.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(sub.GetString()))
        {
            reason = "token has no 'sub' claim";
            return false;
        }

        if (!payload.TryGetProperty("exp", out var exp) || !TryReadTime(exp, out var expiresAt))
        {
            reason = "token has no valid 'exp' claim";
            return false;
        }

        DateTimeOffset? notBefore = null;
        if (payload.TryGetProperty("nbf", out var nbf))
        {
            if (!TryReadTime(nbf, out var value))
            {
                reason = "token has an invalid 'nbf' claim";
                return false;
            }

            notBefore = value;
        }

        string? audience = payload.TryGetProperty("aud", out var aud)
            ? aud.ValueKind switch
            {
                JsonValueKind.String => aud.GetString(),
                JsonValueKind.Array => string.Join(", ", aud.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText())),
                _ => aud.GetRawText(),
            }
            : null;

        parsed = new ParsedToken(alg.GetString()!, keyId, iss.GetString()!, sub.GetString()!, expiresAt, notBefore, audience, payload);
        reason = string.Empty;
        return true;
    }

    /// <summary>
    /// The first member name that occurs twice in one object (at any depth, as a dotted path), or null. Parsers
    /// disagree on which copy wins (first, last, error), so a repeated claim could mean one thing here and another
    /// to the issuer or an auditor. Names compare after JSON unescaping: <c>"s\u0075b"</c> repeats <c>"sub"</c>.
    /// </summary>
    private static string? RepeatedName(JsonElement element, string path = "")
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray())
            {
                if (RepeatedName(item, path) is { } repeated)
                {
                    return repeated;
                }
            }

            return null;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in element.EnumerateObject())
        {
            string name = path.Length == 0 ? member.Name : path + "." + member.Name;
            if (!seen.Add(member.Name))
            {
                return name;
            }

            if (RepeatedName(member.Value, name) is { } repeated)
            {
                return repeated;
            }
        }

        return null;
    }

    /// <summary>
    /// RFC 7515 §4.1.11: a recipient must reject a token whose <c>crit</c> lists an extension it does not
    /// understand. Gatehouse understands none, so any <c>crit</c> is refused; a malformed one too.
    /// </summary>
    private static string? CriticalHeaderProblem(JsonElement header)
    {
        if (!header.TryGetProperty("crit", out var crit))
        {
            return null;
        }

        if (crit.ValueKind != JsonValueKind.Array || crit.GetArrayLength() == 0 || crit.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
        {
            return "token header \"crit\" must be a non-empty array of names (RFC 7515 §4.1.11)";
        }

        var names = string.Join(", ", crit.EnumerateArray().Take(3).Select(v => $"\"{Printable(v.GetString()!)}\""))
            + (crit.GetArrayLength() > 3 ? ", …" : "");
        return $"token header marks {names} critical, which Gatehouse does not understand (RFC 7515 §4.1.11)";
    }

    private static bool TryDecodeObject(ReadOnlySpan<char> segment, out JsonElement element)
    {
        element = default;
        if (segment.IsEmpty)
        {
            return false;
        }

        try
        {
            byte[] bytes = Base64UrlEncoder.DecodeBytes(segment.ToString());
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 32 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            element = document.RootElement.Clone();
            return true;
        }
        catch (Exception ex) when (ex is FormatException or JsonException or ArgumentException)
        {
            return false;
        }
    }

    private static bool TryReadTime(JsonElement value, out DateTimeOffset time)
    {
        time = default;
        // NumericDate: seconds since the epoch, possibly fractional; bounded to what DateTimeOffset holds.
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double seconds) || double.IsNaN(seconds) || seconds < 0 || seconds > 253_402_300_799)
        {
            return false;
        }

        time = DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000));
        return true;
    }

    private static ValueTask<TokenValidationOutcome> Fail(AuthFailure failure, string reason) =>
        ValueTask.FromResult(TokenValidationOutcome.Fail(failure, reason));

    private static string Expired(DateTimeOffset expiresAt) => $"token expired at {Format(expiresAt)}";

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>A claim or header value fit for an error message: printable ASCII, at most 80 characters.</summary>
    private static string Printable(string value)
    {
        var text = new StringBuilder(Math.Min(value.Length, 81));
        foreach (char c in value)
        {
            if (text.Length == 80)
            {
                text.Append('…');
                break;
            }

            text.Append(c is >= ' ' and <= '~' and not '\'' ? c : '?');
        }

        return text.ToString();
    }

    private sealed record ParsedToken(
        string Algorithm, string? KeyId, string Issuer, string Subject,
        DateTimeOffset ExpiresAt, DateTimeOffset? NotBefore, string? Audience, JsonElement Payload);
}
