using Gatehouse.Credentials;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Sql;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Pipeline;

/// <summary>
/// Admits a session when the current policy grants the principal the target, then leases its upstream login from
/// the credential broker: a short-lived role with exactly the grant's db_roles.
/// </summary>
public sealed class PolicyAdmission(
    PolicyStore policy, CredentialBroker broker, IReadOnlyDictionary<string, CredentialTarget> targets, ILoggerFactory loggers,
    IReadOnlyDictionary<string, RelationCatalog>? catalogs = null, IValueMasker? masker = null) : ISessionAdmission
{
    /// <summary>Per target: the server's syntax errors for SQL that is not understood (none when absent).</summary>
    public IReadOnlyDictionary<string, ISyntaxCheck>? SyntaxChecks { get; init; }

    public async ValueTask<(AdmittedSession? Session, Refusal? Refusal)> AdmitAsync(
        Principal principal, string target, FrontDoor frontDoor, string sessionId, CancellationToken ct)
    {
        if (!targets.TryGetValue(target, out var credentialTarget))
        {
            return (null, Refusals.UnknownTarget(target, targets.Keys));
        }

        var grant = policy.Current.FindGrant(principal.Claims, target);
        if (grant is null)
        {
            return (null, Refusals.NoGrant(principal.Subject, target));
        }

        var lease = await broker.AcquireAsync(credentialTarget, principal.Subject, grant.DbRoles, ct);
        if (lease.Login is not { } login)
        {
            return (null, Refusals.CredentialLease(lease.SqlState, lease.Error ?? "credential lease failed"));
        }

        var context = new SessionContext(sessionId, principal, target, frontDoor, login.User);
        return (new AdmittedSession
        {
            UpstreamUser = login.User,
            UpstreamPassword = login.Password,
            OnSessionEnd = login.DisposeAsync,
            Grant = grant,
            Pipeline = new StatementPipeline(
                policy, context, CachingSqlAnalyzer.Shared, loggers.CreateLogger<StatementPipeline>(), catalogs?.GetValueOrDefault(target), masker)
            {
                SyntaxCheck = SyntaxChecks?.GetValueOrDefault(target),
            },
        }, null);
    }
}
