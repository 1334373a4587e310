using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gatehouse.Identity;

/// <summary>Serves the dev issuer's discovery document and JWKS on the admin listener.</summary>
public static class DevIssuerEndpoints
{
    /// <summary>
    /// Maps <c>GET {path}/.well-known/openid-configuration</c> and <c>GET {path}/jwks</c>, where path is the
    /// path of <see cref="DevIssuer.IssuerUrl"/> (normally <c>/dev-issuer</c>).
    /// </summary>
    public static IEndpointRouteBuilder MapDevIssuer(this IEndpointRouteBuilder app, DevIssuer issuer)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(issuer);
        string prefix = new Uri(issuer.IssuerUrl).AbsolutePath.TrimEnd('/');
        string discovery = issuer.DiscoveryDocumentJson();
        string jwks = issuer.JwksJson();
        app.MapGet(prefix + "/.well-known/openid-configuration", () => Results.Text(discovery, "application/json"));
        app.MapGet(prefix + "/jwks", () => Results.Text(jwks, "application/jwk-set+json"));
        return app;
    }
}
