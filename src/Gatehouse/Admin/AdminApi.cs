using Gatehouse.Audit;
using Gatehouse.Credentials;
using Gatehouse.Proxy;
using Gatehouse.State;

namespace Gatehouse.Admin;

/// <summary>The admin API's endpoints beyond reviews, sign-in, the console and /metrics (docs/admin-api.md).</summary>
internal static class AdminApi
{
    public static void AddServices(IServiceCollection services)
    {
        AdminProblems.AddServices(services);
        AdminOpenApi.AddServices(services);
    }

    /// <param name="chain">This instance's audit chain (its instance id).</param>
    public static void Map(
        WebApplication app, AdminAuth auth, IStateStore state, AuditTrail? audit, LiveSessions live, string chain, PolicyDistribution policy,
        CredentialBroker broker, IReadOnlyCollection<CredentialTarget> targets, TimeProvider time)
    {
        SessionsApi.Map(app, audit is null ? null : new AuditReader(new FlushedAuditStore(state.Audit, audit)), live, chain, auth);
        PolicyApi.Map(app, policy, auth, audit);
        LeasesApi.Map(app, broker, auth);
        new HealthApi(targets, state, time).Map(app);
        AdminOpenApi.Map(app);
    }
}
