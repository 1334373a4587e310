using System.Text.Json;

namespace Gatehouse.Identity;

/// <summary>Why a token was refused. Each maps to one SQLSTATE (see docs/identity.md).</summary>
public enum AuthFailure
{
    None = 0,

    /// <summary>Empty, too large, not three base64url JSON parts, JWE, missing iss/sub/exp, a repeated member name, or a <c>crit</c> header.</summary>
    Malformed,

    /// <summary>The header names an algorithm outside the allow-list (none, HS*, …).</summary>
    AlgorithmNotAllowed,

    /// <summary>The <c>iss</c> claim names an issuer this gateway does not trust.</summary>
    UnknownIssuer,

    /// <summary>The trusted issuer's discovery document or JWKS could not be fetched, and none is cached.</summary>
    IssuerUnreachable,

    /// <summary>The <c>kid</c> is not in the issuer's JWKS, even after a refresh.</summary>
    UnknownSigningKey,

    /// <summary>The signature does not verify with the issuer's key.</summary>
    BadSignature,

    /// <summary>No <c>aud</c> value is one of <see cref="IdentityOptions.Audiences"/>.</summary>
    WrongAudience,

    /// <summary><c>exp</c> is in the past, beyond the clock skew.</summary>
    Expired,

    /// <summary><c>nbf</c> is in the future, beyond the clock skew.</summary>
    NotYetValid,
}

/// <summary>What <see cref="TokenValidator.ValidateAsync"/> decided. Failures are results, not exceptions.</summary>
public sealed record TokenValidationOutcome
{
    /// <summary>SQLSTATE for a token that is bad, expired or not for us: invalid_password.</summary>
    public const string InvalidPassword = "28P01";

    /// <summary>SQLSTATE when the token could not be judged (issuer unreachable): invalid_authorization_specification.</summary>
    public const string InvalidAuthorization = "28000";

    private TokenValidationOutcome()
    {
    }

    public bool Succeeded { get; private init; }

    /// <summary>Set when <see cref="Succeeded"/>.</summary>
    public ValidatedIdentity? Identity { get; private init; }

    public AuthFailure Failure { get; private init; }

    /// <summary>Short human text for the client and the log. Never contains the token.</summary>
    public string? Reason { get; private init; }

    /// <summary>Empty on success; otherwise 28P01, or 28000 when the issuer could not be reached.</summary>
    public string SqlState { get; private init; } = string.Empty;

    public static TokenValidationOutcome Success(ValidatedIdentity identity) => new()
    {
        Succeeded = true,
        Identity = identity,
        Failure = AuthFailure.None,
    };

    public static TokenValidationOutcome Fail(AuthFailure failure, string reason) => new()
    {
        Succeeded = false,
        Failure = failure == AuthFailure.None ? throw new ArgumentOutOfRangeException(nameof(failure)) : failure,
        Reason = reason,
        SqlState = SqlStateFor(failure),
    };

    public static string SqlStateFor(AuthFailure failure) => failure switch
    {
        AuthFailure.None => string.Empty,
        AuthFailure.IssuerUnreachable => InvalidAuthorization,
        _ => InvalidPassword,
    };
}

/// <summary>Who presented a valid token.</summary>
public sealed record ValidatedIdentity
{
    public required string Subject { get; init; }

    public required string Issuer { get; init; }

    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>The token payload (a JSON object), for policy claim matching.</summary>
    public required JsonElement Claims { get; init; }

    /// <summary>Lower-case hex SHA-256 of the token's UTF-8 bytes: what audit records keep instead of the token.</summary>
    public required string TokenHash { get; init; }
}
