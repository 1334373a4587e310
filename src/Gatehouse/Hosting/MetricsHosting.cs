using System.Data.Common;
using Gatehouse.Audit;
using Gatehouse.Credentials;
using Gatehouse.Pipeline;
using Gatehouse.Policy;
using Gatehouse.Proxy;
using Gatehouse.Reviews;
using Gatehouse.State;
using Prometheus;

namespace Gatehouse.Hosting;

/// <summary>
/// /metrics of one gateway: the measurements the hot paths feed (<see cref="GatewayMetrics"/>) and the figures that
/// live in their components (connection slots, leases, the policy, the audit trail, the review store), read into the
/// same registry just before each scrape. Every metric is described in docs/operations-metrics.md.
/// </summary>
internal static class MetricsHosting
{
    public static void Register(GatewayMetrics metrics, ProxyServices services, PolicyStore policy, CredentialBroker broker, AuditTrail? audit,
        ReviewService reviews, TimeProvider time)
    {
        var f = metrics.Factory;
        var clientSessions = f.CreateGauge("gatehouse_client_sessions", "Client connections open, before and after authentication.");
        var unauthenticated = f.CreateGauge("gatehouse_unauthenticated_connections", "Client connections not yet authenticated.");
        var evicted = f.CreateCounter("gatehouse_connections_evicted_total", "Unauthenticated connections closed to make room for new ones.");
        var refused = f.CreateCounter("gatehouse_connections_refused_total", "Client connections refused, by reason.", ["reason"]);
        var (full, authTimeout, grantMax) = (refused.WithLabels("full"), refused.WithLabels("auth_timeout"), refused.WithLabels("grant_max_connections"));
        var rules = f.CreateGauge("gatehouse_policy_rules", "Rules in the policy in force.");
        var leases = f.CreateGauge("gatehouse_credential_leases", "Live short-lived upstream credentials (leases) of this instance.");
        var leased = f.CreateGauge("gatehouse_leased_sessions", "Sessions using a lease of this instance.");
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            clientSessions.Set(services.ActiveSessions);
            unauthenticated.Set(services.Slots.Unauthenticated);
            evicted.IncTo(services.Slots.Evicted);
            full.IncTo(services.Slots.Refused);
            authTimeout.IncTo(services.AuthTimeoutCount);
            grantMax.IncTo(services.GrantSessions.Refused);
            rules.Set(policy.Current.RuleCount);
            leases.Set(broker.LiveLeases);
            leased.Set(broker.LeasedSessions);
        });
        RegisterAudit(f, metrics.Registry, audit);
        metrics.Registry.AddBeforeCollectCallback(async ct =>
        {
            try
            {
                var now = time.GetUtcNow();
                var pending = await reviews.Store.ListAsync(ReviewStatus.Pending, 100_000, ct);
                metrics.ReviewsPending.Set(pending.Count(r => r.Expires > now));
            }
            catch (Exception ex) when (ex is DbException or IOException or InvalidOperationException)
            {
                metrics.ReviewsPending.Set(double.NaN); // the store cannot be read: not a number rather than a stale one
            }
        });
    }

    private static void RegisterAudit(IMetricFactory f, CollectorRegistry registry, AuditTrail? audit)
    {
        var enabled = f.CreateGauge("gatehouse_audit_enabled", "1 when statements are recorded in the audit trail (audit.enabled).");
        if (audit is null)
        {
            enabled.Set(0);
            return;
        }

        enabled.Set(1);
        var records = f.CreateCounter("gatehouse_audit_records_total", "Audit records written.");
        var batches = f.CreateCounter("gatehouse_audit_batches_total", "Batches (store transactions) of audit records written.");
        var failed = f.CreateCounter("gatehouse_audit_failed_records_total", "Audit records whose write failed.");
        var queued = f.CreateGauge("gatehouse_audit_queue_depth", "Audit records waiting to be written.");
        var last = f.CreateGauge("gatehouse_audit_last_batch_seconds", "How long the last batch write took.");
        var healthy = f.CreateGauge("gatehouse_audit_healthy", "0 when the last audit write failed and none has succeeded since.");
        var syncs = f.CreateCounter("gatehouse_audit_journal_syncs_total", "fsyncs of the audit journal (durability: os); records per fsync is the group commit.");
        registry.AddBeforeCollectCallback(() =>
        {
            var stats = audit.Stats;
            records.IncTo(stats.Records);
            batches.IncTo(stats.Batches);
            failed.IncTo(stats.FailedRecords);
            queued.Set(stats.Queued);
            last.Set(stats.LastBatchMs / 1000.0);
            healthy.Set(audit.Healthy ? 1 : 0);
            syncs.IncTo(stats.JournalSyncs);
        });
    }

    public static void Map(WebApplication app, GatewayMetrics metrics) =>
        app.MapGet("/metrics", async (HttpContext http) =>
        {
            http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.Registry.CollectAndExportAsTextAsync(http.Response.Body, http.RequestAborted);
        });
}
