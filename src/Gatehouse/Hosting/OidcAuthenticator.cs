using Gatehouse.Identity;
using Gatehouse.Proxy;

namespace Gatehouse.Hosting;

/// <summary>Connects the wire proxy's password check to the OIDC token validator.</summary>
internal sealed class OidcAuthenticator(TokenValidator validator) : IClientAuthenticator
{
    public async ValueTask<AuthenticationResult> AuthenticateAsync(string token, CancellationToken ct)
    {
        var outcome = await validator.ValidateAsync(token, ct);
        if (!outcome.Succeeded || outcome.Identity is not { } identity)
        {
            return new AuthenticationResult(null, outcome.SqlState, outcome.Reason ?? "invalid token");
        }

        return AuthenticationResult.Success(new ClientIdentity(identity.Subject, identity.Issuer, identity.Claims, identity.TokenHash, identity.ExpiresAt));
    }
}
