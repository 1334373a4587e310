using Gatehouse.Pipeline;
using Gatehouse.Policy;
using Gatehouse.Protocol;
using Gatehouse.Proxy;
using Gatehouse.Proxy.Configuration;
using Gatehouse.Sql;

namespace Gatehouse.Hosting;

/// <summary>
/// Admits a session when the current policy grants the identity the target, then picks the upstream login.
/// Until short-lived credentials land, the upstream login is the target's provisioner credential.
/// </summary>
internal sealed class PolicyAdmission(PolicyStore policy, ILoggerFactory loggers) : ISessionAdmission
{
    public ValueTask<(Admission? Admission, AdmissionRefusal? Refusal)> AdmitAsync(ClientIdentity identity, TargetConfig target, string sessionId, CancellationToken ct)
    {
        var snapshot = policy.Current;
        var grant = snapshot.FindGrant(identity.Claims, target.Name);
        if (grant is null)
        {
            return ValueTask.FromResult<(Admission?, AdmissionRefusal?)>(
                (null, new AdmissionRefusal(SqlStates.InvalidAuthorizationSpecification, $"gatehouse: no grant for \"{identity.Subject}\" on target \"{target.Name}\"")));
        }

        string password;
        try
        {
            password = target.Provisioner.ReadPassword();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return ValueTask.FromResult<(Admission?, AdmissionRefusal?)>(
                (null, new AdmissionRefusal(SqlStates.SqlClientUnableToEstablishConnection, $"gatehouse: the credential for target \"{target.Name}\" cannot be read")));
        }

        var admission = new Admission
        {
            UpstreamUser = target.Provisioner.User,
            UpstreamPassword = password,
            Gate = new PolicyStatementGate(policy, identity.Claims, identity.Subject, target.Name, SqlAnalyzer.Instance, loggers.CreateLogger<PolicyStatementGate>()),
        };
        return ValueTask.FromResult<(Admission?, AdmissionRefusal?)>((admission, null));
    }
}
