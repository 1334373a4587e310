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

/// <summary>
/// Bearer tokens on /api: the same validator as the wire. No token or a bad one → 401 (with WWW-Authenticate); a
/// valid token without the role → 403 — agents' tokens always, since agent identities are not approvers, auditors or
/// admins. Roles: approvers = <c>reviews.approvers</c> (policy), auditors = <c>admin.auditors</c>, admins =
/// <c>admin.identities</c> (config); an admin may also read what auditors read.
/// </summary>
public sealed class AdminAuth(IAuthenticator authenticator, PolicyStore policy, AdminConfig config)
{
    public async Task<(Principal? Principal, IResult? Failure)> RequireAsync(HttpContext http, AdminRole anyOf)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
        {
            return (null, Unauthorized(http, "a bearer token is required"));
        }

        var result = await authenticator.AuthenticateAsync(header[7..].Trim(), http.RequestAborted);
        if (result.Principal is not { } principal)
        {
            return (null, Unauthorized(http, result.Reason));
        }

        if ((RolesOf(principal) & anyOf) == 0)
        {
            return (null, Results.Problem(statusCode: 403, title: "forbidden", detail: $"{principal.Subject} may not do this ({anyOf})"));
        }

        return (principal, null);
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

    private static IResult Unauthorized(HttpContext http, string reason)
    {
        http.Response.Headers.WWWAuthenticate = "Bearer realm=\"gatehouse\"";
        return Results.Problem(statusCode: 401, title: "unauthorized", detail: reason);
    }
}
