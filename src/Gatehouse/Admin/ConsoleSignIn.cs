using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gatehouse.Configuration;
using Gatehouse.Identity;
using Gatehouse.Pipeline;
using Microsoft.IdentityModel.Tokens;

namespace Gatehouse.Admin;

/// <summary>
/// Humans sign in to the console through the gateway's OIDC issuer (authorization code + PKCE S256):
/// <code>
///  GET /login?return=/path ─► state, nonce, verifier kept here (single use, login_timeout) + gatehouse_login cookie
///                          ─► 302 issuer authorization_endpoint
///  GET /auth/callback?code&amp;state ─► pending login (state, cookie binding, not expired) ─► token endpoint (code + verifier)
///        ─► access token through the wire's validator (IAuthenticator) ─► id_token nonce ─► console session
///        ─► gatehouse_session (HttpOnly, Strict) + gatehouse_csrf (readable) ─► 302 return path
///  POST /logout (CSRF) ─► session ended      GET /api/me ─► subject, name, roles, csrf_token, expires
/// </code>
/// The issuer is <c>identity.issuer</c> when <c>admin.console.client_id</c> is set, else the dev issuer.
/// </summary>
internal sealed class ConsoleSignIn
{
    private const string BindingCookie = "gatehouse_login";

    private readonly IConsoleIssuer? _issuer;
    private readonly DevIssuerLogin? _devLogin;
    private readonly ConsoleSignInConfig _config;
    private readonly PendingLogins _pending;
    private readonly TimeProvider _time;

    private ConsoleSignIn(IConsoleIssuer? issuer, DevIssuerLogin? devLogin, ConsoleSignInConfig config, string redirectUri, TimeProvider time)
    {
        _issuer = issuer;
        _devLogin = devLogin;
        _config = config;
        RedirectUri = redirectUri;
        _pending = new PendingLogins(time, config.LoginTimeout);
        _time = time;
    }

    /// <summary>The console's callback as the issuer must know it: admin.console.redirect_uri or http://{listen.admin}/auth/callback.</summary>
    public string RedirectUri { get; }

    /// <summary>Reads the client secret and the dev logins' passwords; null with one line per problem when one cannot be read.</summary>
    public static ConsoleSignIn? Create(GatewayConfig config, DevIssuer? devIssuer, TimeProvider time, TextWriter errors)
    {
        var signIn = config.Admin.SignIn;
        string redirectUri = signIn.RedirectUri ?? $"http://{config.AdminListen}/auth/callback";
        bool ok = true;
        var logins = new List<DevLogin>();
        foreach (var login in config.Identity.DevLogins)
        {
            try
            {
                string password = login.ReadPassword();
                if (password.Length < DevLoginConfig.MinPasswordLength)
                {
                    errors.WriteLine($"{config.SourcePath}: error: the password of dev login '{login.Subject}' is shorter than {DevLoginConfig.MinPasswordLength} characters");
                    ok = false;
                    continue;
                }

                logins.Add(new DevLogin(login.Subject, password, login.Claims));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                errors.WriteLine($"{config.SourcePath}: error: the password of dev login '{login.Subject}' cannot be read: {ex.Message}");
                ok = false;
            }
        }

        var devLogin = devIssuer is null ? null : new DevIssuerLogin(devIssuer, logins, redirectUri, config.Identity.Audiences[0], time);
        IConsoleIssuer? issuer = devLogin is null ? null : new DevConsoleIssuer(devIssuer!, devLogin);
        if (signIn.ClientId is { } clientId && config.Identity.Issuer is { } external)
        {
            string? secret = null;
            try
            {
                secret = signIn.ReadSecret();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                errors.WriteLine($"{config.SourcePath}: error: admin.console's client secret cannot be read: {ex.Message}");
                ok = false;
            }

            issuer = new ExternalConsoleIssuer(external, clientId, secret, new HttpClient(), time);
        }

        return ok ? new ConsoleSignIn(issuer, devLogin, signIn, redirectUri, time) : null;
    }

    public void Map(WebApplication app, DevIssuer? devIssuer, IAuthenticator authenticator, AdminAuth auth, ConsoleSessions sessions, ILogger logger)
    {
        if (devIssuer is not null && _devLogin is not null)
        {
            app.MapDevIssuerLogin(devIssuer, _devLogin);
        }

        app.MapGet("/login", (HttpContext http, string? @return) => StartAsync(http, @return));
        Func<HttpContext, Task<IResult>> callback = http => FinishAsync(http, authenticator, sessions, logger);
        app.MapGet("/auth/callback", callback);
        app.MapPost("/logout", async (HttpContext http) =>
        {
            var caller = await auth.AuthenticateAsync(http);
            if (caller.Failure is not null && caller.Session is not null)
            {
                return caller.Failure;
            }

            if (caller.Session is not null)
            {
                sessions.End(http.Request.Cookies[ConsoleSessions.CookieName]);
                logger.LogInformation("Console sign-out: {Subject}", caller.Principal!.Subject);
            }

            ClearCookie(http, ConsoleSessions.CookieName, "/");
            ClearCookie(http, ConsoleSessions.CsrfCookieName, "/");
            return http.Request.HasFormContentType ? Results.Redirect("/") : Results.NoContent();
        });
        app.MapGet("/api/me", async (HttpContext http) =>
        {
            var caller = await auth.AuthenticateAsync(http);
            if (caller.Failure is not null)
            {
                return caller.Failure;
            }

            var principal = caller.Principal!;
            var roles = auth.RolesOf(principal);
            string[] names = [.. new[] { (AdminRole.Approver, "approver"), (AdminRole.Auditor, "auditor"), (AdminRole.Admin, "admin") }
                .Where(r => roles.HasFlag(r.Item1)).Select(r => r.Item2)];
            http.Response.Headers.CacheControl = "no-store";
            return Results.Json(new
            {
                subject = principal.Subject,
                name = Claim(principal.Claims, "name") ?? Claim(principal.Claims, "preferred_username") ?? principal.Subject,
                roles = names,
                csrf_token = caller.Session?.CsrfToken,
                expires = caller.Session?.Expires ?? principal.ExpiresAt,
            });
        });
    }

    private async Task<IResult> StartAsync(HttpContext http, string? returnPath)
    {
        if (_issuer is null)
        {
            return Problem(404, "not configured", "console sign-in is not configured: set admin.console.client_id for identity.issuer, or identity.dev_issuer with dev_logins (docs/console-sign-in.md)");
        }

        returnPath ??= "/";
        if (!IsLocalPath(returnPath))
        {
            return Problem(400, "bad request", "return must be a path on this console, starting with a single '/'");
        }

        var (endpoint, error) = await _issuer.AuthorizationEndpointAsync(http.RequestAborted);
        if (endpoint is null)
        {
            return Problem(502, "issuer unavailable", error!);
        }

        string state = ConsoleSessions.NewSecret();
        string nonce = ConsoleSessions.NewSecret();
        string verifier = ConsoleSessions.NewSecret();
        string binding = ConsoleSessions.NewSecret();
        _pending.Add(state, verifier, nonce, returnPath, binding);
        string challenge = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        // Lax, not Strict: the browser comes back to the callback from the issuer's site.
        http.Response.Cookies.Append(BindingCookie, binding, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = Secure(http),
            Path = "/auth/callback",
            MaxAge = _pending.Lifetime,
        });
        var query = new Dictionary<string, string>
        {
            ["response_type"] = "code",
            ["client_id"] = _issuer.ClientId,
            ["redirect_uri"] = RedirectUri,
            ["scope"] = string.Join(' ', _config.Scopes),
            ["state"] = state,
            ["nonce"] = nonce,
            ["code_challenge"] = challenge,
            ["code_challenge_method"] = "S256",
        };
        string separator = endpoint.Contains('?', StringComparison.Ordinal) ? "&" : "?";
        http.Response.Headers.CacheControl = "no-store";
        return Results.Redirect(endpoint + separator + string.Join('&', query.Select(q => $"{q.Key}={Uri.EscapeDataString(q.Value)}")));
    }

    private async Task<IResult> FinishAsync(HttpContext http, IAuthenticator authenticator, ConsoleSessions sessions, ILogger logger)
    {
        http.Response.Headers.CacheControl = "no-store";
        var query = http.Request.Query;
        string? state = query["state"];
        if (_issuer is null)
        {
            return Problem(404, "not configured", "console sign-in is not configured (docs/console-sign-in.md)");
        }

        if (string.IsNullOrEmpty(state))
        {
            return Problem(400, "sign-in failed", "the callback has no state; start again at /login");
        }

        var pending = _pending.Take(state);
        string? binding = http.Request.Cookies[BindingCookie];
        ClearCookie(http, BindingCookie, "/auth/callback");
        if (pending is null)
        {
            return Problem(400, "sign-in failed", "unknown or already used sign-in state; start again at /login");
        }

        if (pending.Expires <= _time.GetUtcNow())
        {
            return Problem(400, "sign-in failed", $"the sign-in took longer than {Format(_pending.Lifetime)}; start again at /login");
        }

        if (binding is null || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(binding), Encoding.ASCII.GetBytes(pending.Binding)))
        {
            return Problem(400, "sign-in failed", "this sign-in was started in another browser or tab (its cookie is missing or different); start again at /login");
        }

        // RFC 9207: a callback that names another issuer is a mix-up, whatever else it carries.
        if (query["iss"].ToString() is { Length: > 0 } iss && iss.TrimEnd('/') != _issuer.Issuer.TrimEnd('/'))
        {
            return Problem(400, "sign-in failed", "the callback names another issuer (iss); start again at /login");
        }

        if (query["error"].ToString() is { Length: > 0 } refused)
        {
            string description = query["error_description"].ToString();
            return Problem(400, "sign-in failed", $"the issuer refused the sign-in: {Printable(refused)}{(description.Length > 0 ? $" ({Printable(description)})" : "")}");
        }

        if (query["code"].ToString() is not { Length: > 0 } code)
        {
            return Problem(400, "sign-in failed", "the callback has no code; start again at /login");
        }

        var exchange = await _issuer.ExchangeAsync(code, pending.Verifier, RedirectUri, http.RequestAborted);
        if (exchange.Error is { } exchangeError)
        {
            return exchange.IssuerUnreachable
                ? Problem(502, "issuer unavailable", exchangeError)
                : Problem(400, "sign-in failed", $"the issuer did not accept the code: {Printable(exchangeError)}");
        }

        if (exchange.AccessToken is not { Length: > 0 } accessToken)
        {
            return Problem(502, "sign-in failed", "the issuer's token response has no access_token");
        }

        var authenticated = await authenticator.AuthenticateAsync(accessToken, http.RequestAborted);
        if (authenticated.Principal is not { } principal)
        {
            return Problem(401, "sign-in failed", $"the issuer's access token is not accepted: {authenticated.Reason}");
        }

        if (IdTokenProblem(exchange.IdToken, pending.Nonce) is { } idProblem)
        {
            return Problem(400, "sign-in failed", idProblem);
        }

        // A new id at every sign-in (no fixation); the session this browser had before ends.
        sessions.End(http.Request.Cookies[ConsoleSessions.CookieName]);
        var (cookie, session) = sessions.Create(principal);
        bool secure = Secure(http);
        var lifetime = session.Expires - _time.GetUtcNow();
        http.Response.Cookies.Append(ConsoleSessions.CookieName, cookie, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = secure, Path = "/", MaxAge = lifetime });
        http.Response.Cookies.Append(ConsoleSessions.CsrfCookieName, session.CsrfToken, new CookieOptions { HttpOnly = false, SameSite = SameSiteMode.Strict, Secure = secure, Path = "/", MaxAge = lifetime });
        logger.LogInformation("Console sign-in: {Subject} until {Expires:u}", principal.Subject, session.Expires);
        return Results.Redirect(pending.ReturnPath);
    }

    /// <summary>
    /// The id_token came straight from the token endpoint over the connection the gateway opened, so (OIDC Core
    /// §3.1.3.7) its issuer, audience and nonce are checked without its signature; the identity is the access token's.
    /// </summary>
    private string? IdTokenProblem(string? idToken, string nonce)
    {
        if (string.IsNullOrEmpty(idToken))
        {
            return "the issuer sent no id_token (admin.console.scopes must include openid)";
        }

        string[] parts = idToken.Split('.');
        JsonElement payload;
        try
        {
            using var document = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(parts.Length == 3 ? parts[1] : ""));
            payload = document.RootElement.Clone();
        }
        catch (Exception ex) when (ex is FormatException or JsonException or ArgumentException)
        {
            return "the issuer's id_token is not a JWT";
        }

        if (payload.ValueKind != JsonValueKind.Object)
        {
            return "the issuer's id_token is not a JWT";
        }

        if (Claim(payload, "iss")?.TrimEnd('/') != _issuer!.Issuer.TrimEnd('/'))
        {
            return "the id_token names another issuer";
        }

        bool forUs = payload.TryGetProperty("aud", out var aud) && (aud.ValueKind == JsonValueKind.String
            ? aud.GetString() == _issuer.ClientId
            : aud.ValueKind == JsonValueKind.Array && aud.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == _issuer.ClientId));
        if (!forUs)
        {
            return "the id_token is not for this console's client_id";
        }

        string? given = Claim(payload, "nonce");
        return given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(nonce))
            ? null
            : "the id_token's nonce does not match this sign-in";
    }

    /// <summary>A same-origin path: one leading '/', no '//' or backslash (browsers read '/\' as '//'), printable ASCII
    /// only (a Location header takes nothing else; a browser may read a full-width solidus as '/').</summary>
    internal static bool IsLocalPath(string path) =>
        path.Length is > 0 and <= 2048 && path[0] == '/' && (path.Length == 1 || path[1] is not ('/' or '\\'))
        && path.All(c => c is > ' ' and < (char)0x7F && c != '\\');

    private bool Secure(HttpContext http) => http.Request.IsHttps || RedirectUri.StartsWith("https://", StringComparison.Ordinal);

    private void ClearCookie(HttpContext http, string name, string path)
    {
        if (http.Request.Cookies.ContainsKey(name))
        {
            http.Response.Cookies.Delete(name, new CookieOptions { Path = path, Secure = Secure(http), HttpOnly = name != ConsoleSessions.CsrfCookieName });
        }
    }

    private static string? Claim(JsonElement claims, string name) =>
        claims.ValueKind == JsonValueKind.Object && claims.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Format(TimeSpan span) => span.TotalMinutes >= 1 ? $"{span.TotalMinutes:0} min" : $"{span.TotalSeconds:0} s";

    /// <summary>Text from the issuer or the query, fit to show: printable ASCII, at most 200 characters.</summary>
    private static string Printable(string text)
    {
        var clean = new string([.. text.Take(200).Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        return text.Length > 200 ? clean + "…" : clean;
    }

    private static IResult Problem(int status, string title, string detail) => Results.Problem(statusCode: status, title: title, detail: detail);
}
