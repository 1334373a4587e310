using Gatehouse.Sql;
using Prometheus;

namespace Gatehouse.Pipeline;

/// <summary>What the gateway decided for one statement, as /metrics counts it (docs/operations-metrics.md).</summary>
public enum StatementOutcomeLabel
{
    Allow,
    Approved,
    Deny,
    Review,
    Error,
}

/// <summary>
/// The measurements the hot paths feed, in one per-gateway <see cref="CollectorRegistry"/> (never the static default:
/// one process may host several gateways). Label children are resolved once here, so a statement, a masked value or
/// an upstream response costs one lock-free update and no allocation. Figures that already live elsewhere (slots,
/// leases, the audit trail) are read into the registry just before each scrape by the host.
/// </summary>
public sealed class GatewayMetrics
{
    private static readonly string[] Classes = [.. Enum.GetNames<StatementClass>().Select(Snake)];
    private static readonly string[] Outcomes = [.. Enum.GetNames<StatementOutcomeLabel>().Select(n => n.ToLowerInvariant())];

    private readonly Counter.Child[] _statements;
    private readonly Gauge.Child[] _sessions;
    private readonly Counter.Child[] _sessionsTotal;
    private readonly Histogram.Child _reviewApproved;
    private readonly Histogram.Child _reviewRejected;

    public GatewayMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        Factory = Metrics.WithCustomRegistry(Registry);
        Factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();

        var statements = Factory.CreateCounter("gatehouse_statements_total", "Statements decided, by statement class and what the gateway did with them.", ["class", "decision"]);
        _statements = new Counter.Child[Classes.Length * Outcomes.Length];
        for (int c = 0; c < Classes.Length; c++)
        {
            for (int d = 0; d < Outcomes.Length; d++)
            {
                _statements[c * Outcomes.Length + d] = statements.WithLabels(Classes[c], Outcomes[d]);
            }
        }

        var doors = Enum.GetNames<FrontDoor>().Select(n => n.ToLowerInvariant()).ToArray();
        var sessions = Factory.CreateGauge("gatehouse_sessions", "Admitted client sessions now open, by front door.", ["front_door"]);
        var sessionsTotal = Factory.CreateCounter("gatehouse_sessions_total", "Client sessions admitted since start, by front door.", ["front_door"]);
        _sessions = [.. doors.Select(d => sessions.WithLabels(d))];
        _sessionsTotal = [.. doors.Select(d => sessionsTotal.WithLabels(d))];

        UpstreamLatency = Factory.CreateHistogram("gatehouse_upstream_latency_seconds",
            "Time from forwarding a statement (Query or Execute) upstream to the first response frame from upstream.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 15) });
        MaskedValues = Factory.CreateCounter("gatehouse_masked_values_total", "Values in result rows and COPY data masked, redacted or rewritten by a detector.");
        ReviewsPending = Factory.CreateGauge("gatehouse_reviews_pending", "Review requests in the state store still pending and not expired (all instances on the store).");
        var wait = Factory.CreateHistogram("gatehouse_review_wait_seconds", "Time from a review request to its decision, by outcome (decisions taken on this instance).",
            new HistogramConfiguration { LabelNames = ["outcome"], Buckets = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400] });
        _reviewApproved = wait.WithLabels("approved");
        _reviewRejected = wait.WithLabels("rejected");
        AuditWrite = Factory.CreateHistogram("gatehouse_audit_write_seconds", "Time one batch of audit records took to be written to the state store.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 16) });
    }

    public CollectorRegistry Registry { get; }

    /// <summary>For the host's own metrics (figures read before each scrape).</summary>
    public IMetricFactory Factory { get; }

    public Histogram UpstreamLatency { get; }

    public Counter MaskedValues { get; }

    public Gauge ReviewsPending { get; }

    public Histogram AuditWrite { get; }

    /// <summary>Counts each statement of a submission under the outcome; none analyzed counts one of class unknown.</summary>
    public void Statements(IReadOnlyList<StatementFacts>? statements, StatementOutcomeLabel outcome)
    {
        if (statements is null || statements.Count == 0)
        {
            _statements[(int)StatementClass.Unknown * Outcomes.Length + (int)outcome].Inc();
            return;
        }

        for (int i = 0; i < statements.Count; i++) // not foreach: an interface's enumerator is boxed
        {
            _statements[(int)statements[i].Class * Outcomes.Length + (int)outcome].Inc();
        }
    }

    public void SessionStarted(FrontDoor door)
    {
        _sessions[(int)door].Inc();
        _sessionsTotal[(int)door].Inc();
    }

    public void SessionEnded(FrontDoor door) => _sessions[(int)door].Dec();

    /// <summary>A review left pending (approved or rejected) after <paramref name="waited"/>.</summary>
    public void ReviewDecided(bool approved, TimeSpan waited) =>
        (approved ? _reviewApproved : _reviewRejected).Observe(Math.Max(0, waited.TotalSeconds));

    // CopyOut → copy_out: label values in Prometheus' usual snake case.
    private static string Snake(string name) =>
        string.Concat(name.Select((ch, i) => char.IsUpper(ch) && i > 0 ? "_" + char.ToLowerInvariant(ch) : char.ToLowerInvariant(ch).ToString()));
}
