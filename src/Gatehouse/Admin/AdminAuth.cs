using System.Security.Cryptography;
using System.Text;
using Gatehouse.Configuration;
using Gatehouse.Pipeline;
using Gatehouse.Policy;

namespace Gatehouse.Admin;

/// <summary>What a caller of the admin API may do, from its token's claims under the current policy.</summary>
[Flags]
public enum AdminRole
{
    None = 0,
    Approver = 1,
    Auditor = 2,
    Admin = 4,
}

/// <summary>Who called: a principal (from a bearer token or a console session), or the problem to answer with.</summary>
public sealed record AdminCaller(Principal? Principal, ConsoleSession? Session, IResult? Failure);

/// <summary>
/// Callers of /api: a bearer token (the same validator as the wire) or the console's session cookie. No token or a bad
/// one → 401 (with WWW-Authenticate); a valid identity without the role → 403 — agents' tokens always, since agent
/// identities are not approvers, auditors or admins. A cookie-authenticated unsafe request (POST, PUT, PATCH, DELETE)
/// must carry the session's X-CSRF-Token, else 403. Roles: approvers = <c>reviews.approvers</c> (policy), auditors =
/// <c>admin.auditors</c>, admins = <c>admin.identities</c> (config); an admin may also read what auditors read.
/// </summary>
public sealed class AdminAuth(IAuthenticator authenticator, PolicyStore policy, AdminConfig config, ConsoleSessions? sessions = null)
{
    public const string CsrfHeader = "X-CSRF-Token";

    public async Task<(Principal? Principal, IResult? Failure)> RequireAsync(HttpContext http, AdminRole anyOf)
    {
        var caller = await AuthenticateAsync(http);
        if (caller.Failure is not null || caller.Principal is not { } principal)
        {
            return (null, caller.Failure);
        }

        if ((RolesOf(principal) & anyOf) == 0)
        {
            return (null, Results.Problem(statusCode: 403, title: "forbidden", detail: $"{principal.Subject} may not do this ({anyOf})"));
        }

        return (principal, null);
    }

    /// <summary>
    /// Any valid identity, whatever its roles. The bearer header wins over the cookie (a cross-site request cannot set
    /// it). With a valid session but a missing or wrong CSRF token, <see cref="AdminCaller.Session"/> is set and so is the failure.
    /// </summary>
    public async Task<AdminCaller> AuthenticateAsync(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (header.Length > 0 || sessions is null)
        {
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            {
                return new AdminCaller(null, null, Unauthorized(http, sessions is null ? "a bearer token is required" : "a bearer token or a console session is required"));
            }

            var result = await authenticator.AuthenticateAsync(header[7..].Trim(), http.RequestAborted);
            return result.Principal is { } principal
                ? new AdminCaller(principal, null, null)
                : new AdminCaller(null, null, Unauthorized(http, result.Reason));
        }

        if (http.Request.Cookies[ConsoleSessions.CookieName] is not { } cookie)
        {
            return new AdminCaller(null, null, Unauthorized(http, "a bearer token or a console session is required"));
        }

        if (sessions.Find(cookie) is not { } session)
        {
            return new AdminCaller(null, null, Unauthorized(http, "the console session has ended or expired; sign in again at /login"));
        }

        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method) && !HttpMethods.IsOptions(http.Request.Method)
            && !CsrfMatches(await CsrfTokenAsync(http), session.CsrfToken))
        {
            return new AdminCaller(session.Principal, session, Results.Problem(statusCode: 403, title: "forbidden", detail: "csrf token missing or wrong"));
        }

        return new AdminCaller(session.Principal, session, null);
    }

    public AdminRole RolesOf(Principal principal)
    {
        var snapshot = policy.Current;
        var roles = AdminRole.None;
        if (snapshot.Reviews is { } reviews && snapshot.IsIdentity(principal.Claims, reviews.Approvers))
        {
            roles |= AdminRole.Approver;
        }

        if (config.Auditors is { } auditors && snapshot.IsIdentity(principal.Claims, auditors))
        {
            roles |= AdminRole.Auditor;
        }

        if (config.Identities is { } admins && snapshot.IsIdentity(principal.Claims, admins))
        {
            roles |= AdminRole.Admin | AdminRole.Auditor;
        }

        return roles;
    }

    /// <summary>The X-CSRF-Token header; for a plain HTML form post (the console's sign-out button), its csrf_token field.</summary>
    private static async ValueTask<string?> CsrfTokenAsync(HttpContext http)
    {
        if (http.Request.Headers[CsrfHeader].ToString() is { Length: > 0 } header)
        {
            return header;
        }

        if (http.Request.HasFormContentType)
        {
            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            return form["csrf_token"].ToString();
        }

        return null;
    }

    private static bool CsrfMatches(string? given, string expected) =>
        given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(expected));

    private static IResult Unauthorized(HttpContext http, string reason)
    {
        http.Response.Headers.WWWAuthenticate = "Bearer realm=\"gatehouse\"";
        return Results.Problem(statusCode: 401, title: "unauthorized", detail: reason);
    }
}
