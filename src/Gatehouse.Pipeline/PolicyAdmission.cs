using Gatehouse.Audit;
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
    IReadOnlyDictionary<string, RelationCatalog>? catalogs = null, IValueMasker? masker = null, AuditTrail? audit = null) : ISessionAdmission
{
    /// <summary>The approval workflow for statements a review rule holds; null: review rules refuse.</summary>
    public Gatehouse.Reviews.ReviewService? Reviews { get; init; }

    /// <summary>How long a statement of an MCP session is held for review (<c>mcp.review_wait</c>); null: as on the wire.</summary>
    public TimeSpan? McpHoldAtMost { get; init; }

    /// <summary>Where statements are counted for /metrics; null: not counted.</summary>
    public GatewayMetrics? Metrics { get; init; }

    /// <summary>Per target: the server's syntax errors for SQL that is not understood (none when absent).</summary>
    public IReadOnlyDictionary<string, ISyntaxCheck>? SyntaxChecks { get; init; }

    public async ValueTask<(AdmittedSession? Session, Refusal? Refusal)> AdmitAsync(
        Principal principal, string target, FrontDoor frontDoor, string sessionId, CancellationToken ct, SessionOrigin? origin = null)
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
        var sessionAudit = audit is null ? null : new SessionAudit(audit, context);
        if (sessionAudit is not null && await StartAuditAsync(sessionAudit, origin, ct) is { } unrecorded)
        {
            await login.DisposeAsync();
            return (null, unrecorded);
        }

        return (new AdmittedSession
        {
            UpstreamUser = login.User,
            UpstreamPassword = login.Password,
            OnSessionEnd = sessionAudit is null ? login.DisposeAsync : async () =>
            {
                await EndAuditAsync(sessionAudit, context.EndReason);
                await login.DisposeAsync();
            },
            Grant = grant,
            Pipeline = new StatementPipeline(
                policy, context, CachingSqlAnalyzer.Shared, loggers.CreateLogger<StatementPipeline>(), catalogs?.GetValueOrDefault(target), masker, sessionAudit, Reviews)
            {
                SyntaxCheck = SyntaxChecks?.GetValueOrDefault(target),
                Metrics = Metrics,
                HoldAtMost = frontDoor == FrontDoor.Mcp ? McpHoldAtMost : null,
            },
        }, null);
    }

    // A session that cannot be recorded does not start (unless the trail fails open).
    private static async ValueTask<Refusal?> StartAuditAsync(SessionAudit sessionAudit, SessionOrigin? origin, CancellationToken ct)
    {
        try
        {
            await sessionAudit.StartAsync(origin, ct);
            return null;
        }
        catch (AuditUnavailableException) when (!sessionAudit.FailOpen)
        {
            // The store's reason (a path, a server message) is not the agent's business; /metrics shows the trail unhealthy.
            return Refusals.AuditUnavailable(Refusals.AuditUnwritable);
        }
        catch (AuditUnavailableException)
        {
            return null;
        }
    }

    private static async ValueTask EndAuditAsync(SessionAudit sessionAudit, string? reason)
    {
        try
        {
            await sessionAudit.End(reason);
        }
        catch (AuditUnavailableException)
        {
            // The trail shows the session without its end, as after a crash.
        }
    }
}
