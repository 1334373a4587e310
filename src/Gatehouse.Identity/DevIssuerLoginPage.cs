using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Identity;

/// <summary>
/// The dev issuer's login page and token endpoint over HTTP. The page is plain HTML: no script, one stylesheet from
/// this origin, every value HTML-encoded, so it works under <c>default-src 'none'; style-src 'self'; form-action 'self'</c>.
/// </summary>
public static class DevIssuerLoginPage
{
    private const string ContentSecurityPolicy = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    private const string Stylesheet = """
        body { font: 16px/1.4 system-ui, sans-serif; max-width: 24rem; margin: 3rem auto; padding: 0 1rem; color: #1b1f23; }
        h1 { font-size: 1.3rem; } label { display: block; margin: .8rem 0 .2rem; }
        input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; }
        button { margin-top: 1rem; padding: .5rem 1.2rem; font: inherit; }
        .error { color: #a40e26; background: #ffebe9; padding: .5rem; border-radius: 4px; }
        .note { color: #57606a; font-size: .9rem; }
        """;

    /// <summary>Maps <c>GET|POST {prefix}/authorize</c>, <c>POST {prefix}/token</c> and <c>GET {prefix}/login.css</c>.</summary>
    public static IEndpointRouteBuilder MapDevIssuerLogin(this IEndpointRouteBuilder app, DevIssuer issuer, DevIssuerLogin login)
    {
        string prefix = new Uri(issuer.IssuerUrl).AbsolutePath.TrimEnd('/');
        string stylesheet = prefix + "/login.css";
        app.MapGet(stylesheet, () => Results.Text(Stylesheet, "text/css; charset=utf-8"));
        app.MapGet(prefix + "/authorize", (HttpContext http) =>
        {
            var q = http.Request.Query;
            var request = new AuthorizationRequest(q["response_type"], q["client_id"], q["redirect_uri"], q["scope"], q["state"], q["nonce"], q["code_challenge"], q["code_challenge_method"]);
            string? bad = login.CheckRequest(request);
            return Page(http, bad is null ? 200 : 400, stylesheet, prefix, request, login, bad is null ? null : $"This sign-in request is not valid: {bad}.", null);
        });
        app.MapPost(prefix + "/authorize", async (HttpContext http) =>
        {
            if (!http.Request.HasFormContentType)
            {
                return Results.Text("expected a form post", statusCode: 415);
            }

            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            var request = new AuthorizationRequest(form["response_type"], form["client_id"], form["redirect_uri"], form["scope"], form["state"], form["nonce"], form["code_challenge"], form["code_challenge_method"]);
            if (login.CheckRequest(request) is { } bad)
            {
                return Page(http, 400, stylesheet, prefix, request, login, $"This sign-in request is not valid: {bad}.", null);
            }

            string address = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
            string subject = form["username"].ToString();
            if (login.Throttle.TryAttempt(address) is { TotalSeconds: > 0 } wait)
            {
                http.Response.Headers.RetryAfter = Math.Ceiling(wait.TotalSeconds).ToString(CultureInfo.InvariantCulture);
                return Page(http, 429, stylesheet, prefix, request, login, $"Too many failed sign-ins from your address. Try again in {Math.Ceiling(wait.TotalSeconds):0} seconds.", subject);
            }

            var result = login.SignIn(request, subject, form["password"]);
            if (result.Location is not null || result.Busy)
            {
                login.Throttle.Succeeded(address); // counted as a failure until now; busy is not the password's fault
            }

            if (result.Busy)
            {
                return Page(http, 503, stylesheet, prefix, request, login, "Too many sign-ins are in progress. Try again in a minute.", subject);
            }

            if (result.Location is not { } location)
            {
                // Failed sign-ins leave a trace for the operator (a guessing run shows); the name is the client's text.
                http.RequestServices.GetService<ILoggerFactory>()?.CreateLogger("Gatehouse.DevIssuer").LogWarning(
                    "Dev issuer sign-in failed for user {User} from {Address}", string.Concat(subject.Take(64).Select(c => char.IsControl(c) ? '?' : c)), address);
                return Page(http, 401, stylesheet, prefix, request, login, "Wrong user name or password.", subject);
            }

            NoStore(http);
            return Results.Redirect(location);
        });
        app.MapPost(prefix + "/token", async (HttpContext http) =>
        {
            NoStore(http);
            if (!http.Request.HasFormContentType)
            {
                return Results.Json(new { error = "invalid_request", error_description = "expected application/x-www-form-urlencoded" }, statusCode: 400);
            }

            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            var result = login.Exchange(form["grant_type"], form["code"], form["redirect_uri"], form["client_id"], form["code_verifier"]);
            return result.Error is { } error
                ? Results.Json(new { error, error_description = result.ErrorDescription }, statusCode: error == "invalid_client" ? 401 : 400)
                : Results.Json(new { access_token = result.AccessToken, token_type = "Bearer", expires_in = result.ExpiresIn, id_token = result.IdToken, scope = "openid" });
        });
        return app;
    }

    /// <summary>The headers of every dev-issuer page: no script, no framing, no sniffing, no referrer, no caching.</summary>
    internal static void Secure(HttpContext http)
    {
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        NoStore(http);
    }

    private static void NoStore(HttpContext http)
    {
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers.Pragma = "no-cache";
    }

    private static IResult Page(HttpContext http, int status, string stylesheet, string prefix, AuthorizationRequest request, DevIssuerLogin login, string? message, string? subject)
    {
        Secure(http);

        static string E(string? value) => WebUtility.HtmlEncode(value ?? string.Empty);
        var html = new StringBuilder();
        html.Append("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Append("<title>Gatehouse development sign-in</title><link rel=\"stylesheet\" href=\"").Append(E(stylesheet)).Append("\"></head><body>\n")
            .Append("<h1>Gatehouse development sign-in</h1>\n")
            .Append("<p class=\"note\">The gateway's development issuer (<code>identity.dev_issuer</code>). Only the logins configured in <code>identity.dev_logins</code> can sign in.</p>\n");
        if (message is not null)
        {
            html.Append("<p class=\"error\" role=\"alert\">").Append(E(message)).Append("</p>\n");
        }

        if (status == 400)
        {
            html.Append("<p><a href=\"/login\">Start again</a></p>");
        }
        else if (login.LoginCount == 0)
        {
            html.Append("<p class=\"error\">No dev logins are configured: add <code>identity.dev_logins</code> to gatehouse.yaml (docs/console-sign-in.md).</p>");
        }
        else
        {
            html.Append("<form method=\"post\" action=\"").Append(E(prefix + "/authorize")).Append("\">\n");
            foreach (var (name, value) in new[]
            {
                ("response_type", request.ResponseType), ("client_id", request.ClientId), ("redirect_uri", request.RedirectUri), ("scope", request.Scope),
                ("state", request.State), ("nonce", request.Nonce), ("code_challenge", request.CodeChallenge), ("code_challenge_method", request.CodeChallengeMethod),
            })
            {
                html.Append("<input type=\"hidden\" name=\"").Append(name).Append("\" value=\"").Append(E(value)).Append("\">\n");
            }

            html.Append("<label for=\"username\">User name</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"").Append(E(subject)).Append("\">\n")
                .Append("<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\n")
                .Append("<button type=\"submit\">Sign in</button>\n</form>\n");
        }

        html.Append("</body></html>\n");
        return Results.Content(html.ToString(), "text/html; charset=utf-8", Encoding.UTF8, status);
    }
}
