using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gatehouse.Identity;

/// <summary>Serves the dev issuer's discovery document and JWKS on the admin listener, and a page listing them at its URL.</summary>
public static class DevIssuerEndpoints
{
    /// <summary>
    /// Maps <c>GET {path}</c> (a page listing the endpoints), <c>GET {path}/.well-known/openid-configuration</c> and
    /// <c>GET {path}/jwks</c>, where path is the path of <see cref="DevIssuer.IssuerUrl"/> (normally <c>/dev-issuer</c>).
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
        string page = IndexPage(prefix);
        app.MapGet(prefix, (HttpContext http) =>
        {
            DevIssuerLoginPage.Secure(http);
            return Results.Content(page, "text/html; charset=utf-8");
        });
        return app;
    }

    private static string IndexPage(string prefix)
    {
        string p = System.Net.WebUtility.HtmlEncode(prefix);
        return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Gatehouse development issuer</title></head><body>\n"
            + "<h1>Gatehouse development issuer</h1>\n"
            + "<p>The gateway's development issuer (<code>identity.dev_issuer: true</code>): tokens from <code>gatehouse token --dev</code> are signed by its key. For development only.</p>\n"
            + "<ul>\n"
            + $"<li><a href=\"{p}/.well-known/openid-configuration\">{p}/.well-known/openid-configuration</a>: the discovery document</li>\n"
            + $"<li><a href=\"{p}/jwks\">{p}/jwks</a>: the signing key (JWKS)</li>\n"
            + $"<li><code>{p}/authorize</code> and <code>{p}/token</code>: the console's sign-in (code + PKCE), for <code>identity.dev_logins</code> only</li>\n"
            + "</ul>\n</body></html>\n";
    }
}
