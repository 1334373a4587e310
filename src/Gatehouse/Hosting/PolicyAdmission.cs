using Gatehouse.Credentials;
using Gatehouse.Pipeline;
using Gatehouse.Policy;
using Gatehouse.Proxy;
using Gatehouse.Proxy.Configuration;
using Gatehouse.Sql;

namespace Gatehouse.Hosting;

/// <summary>
/// Admits a session when the current policy grants the identity the target, then leases its upstream
/// login from the credential broker: a short-lived role with exactly the grant's db_roles.
/// </summary>
internal sealed class PolicyAdmission(
    PolicyStore policy, CredentialBroker broker, IReadOnlyDictionary<string, CredentialTarget> targets, ILoggerFactory loggers) : ISessionAdmission
{
    public async ValueTask<(Admission? Admission, AdmissionRefusal? Refusal)> AdmitAsync(ClientIdentity identity, TargetConfig target, string sessionId, CancellationToken ct)
    {
        var grant = policy.Current.FindGrant(identity.Claims, target.Name);
        if (grant is null)
        {
            return (null, new AdmissionRefusal(Protocol.SqlStates.InvalidAuthorizationSpecification, $"gatehouse: no grant for \"{identity.Subject}\" on target \"{target.Name}\""));
        }

        var lease = await broker.AcquireAsync(targets[target.Name], identity.Subject, grant.DbRoles, ct);
        if (lease.Login is not { } login)
        {
            return (null, new AdmissionRefusal(lease.SqlState ?? Protocol.SqlStates.SqlClientUnableToEstablishConnection, "gatehouse: " + lease.Error));
        }

        return (new Admission
        {
            UpstreamUser = login.User,
            UpstreamPassword = login.Password,
            OnSessionEnd = login.DisposeAsync,
            Gate = new PolicyStatementGate(policy, identity.Claims, identity.Subject, target.Name, SqlAnalyzer.Instance, loggers.CreateLogger<PolicyStatementGate>()),
        }, null);
    }
}
