using Gatehouse.Credentials;

namespace Gatehouse.Admin;

public sealed record LeaseItem(string Role, string Target, string Subject, IReadOnlyList<string> DbRoles, string Instance, DateTimeOffset Created, DateTimeOffset Expires);

public sealed record LeaseList(IReadOnlyList<LeaseItem> Leases);

/// <summary>/api/leases: the upstream roles the credential broker has leased, on every instance of the state store (auditors).</summary>
internal static class LeasesApi
{
    public static void Map(WebApplication app, CredentialBroker broker, AdminAuth auth) =>
        app.MapGet("/api/leases", async (HttpContext http) =>
        {
            var (_, failure) = await auth.RequireAsync(http, AdminRole.Auditor | AdminRole.Admin);
            if (failure is not null)
            {
                return failure;
            }

            var leases = await broker.LeasesAsync(http.RequestAborted);
            return Results.Json(new LeaseList([.. leases.Select(l => new LeaseItem(l.Role, l.Target, l.Subject, l.DbRoles, l.InstanceId, l.Created, l.Expires))]));
        })
            .WithTags("leases").WithName("ListLeases").WithSummary("Credential leases: short-lived upstream roles, soonest expiry first")
            .Produces<LeaseList>().ProducesProblem(401).ProducesProblem(403);
}
