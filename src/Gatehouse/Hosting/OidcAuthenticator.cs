using Gatehouse.Identity;
using Gatehouse.Pipeline;

namespace Gatehouse.Hosting;

/// <summary>Connects the front doors' token check to the OIDC token validator.</summary>
internal sealed class OidcAuthenticator(TokenValidator validator) : IAuthenticator
{
    public async ValueTask<AuthenticationResult> AuthenticateAsync(string token, CancellationToken ct)
    {
        var outcome = await validator.ValidateAsync(token, ct);
        if (!outcome.Succeeded || outcome.Identity is not { } identity)
        {
            return new AuthenticationResult(null, outcome.SqlState, outcome.Reason ?? "invalid token");
        }

        return AuthenticationResult.Success(new Principal(identity.Subject, identity.Issuer, identity.Claims, identity.TokenHash, identity.ExpiresAt));
    }
}
