using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Policy.Model;
using Gatehouse.Reviews;
using Gatehouse.Sql;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Pipeline;

/// <summary>One SQL text a front door wants to run: a query (possibly several statements) or a statement to prepare.</summary>
public readonly record struct StatementRequest(string Sql, string? PreparedName = null)
{
    public static StatementRequest Query(string sql) => new(sql);

    public static StatementRequest Prepare(string name, string sql) => new(sql, name);
}

/// <summary>The pipeline's answer: go ahead with the ticket, or the refusal to show.</summary>
public readonly record struct Submission(StatementTicket? Ticket, Refusal? Refusal)
{
    public bool Proceed => Ticket is not null;
}

/// <summary>
/// One session's statement path, the same for every front door:
/// <code>
///  request ─► session guard ─► analyze (facts, no side effects) ─► setting guard ─► decide (current policy snapshot)
///          ─► ticket (the front door runs it and reports back) | refusal (Refusals catalogue)
/// </code>
/// The snapshot is read per statement, so a policy reload reaches sessions that are already open. All statements
/// of a query string are decided before any runs: one refusal stops them all. Reviews, audit records and mask
/// plans attach here as they land.
/// </summary>
public sealed partial class StatementPipeline(
    PolicyStore policy, SessionContext session, ISqlAnalyzer analyzer, ILogger logger, RelationCatalog? catalog = null, IValueMasker? masker = null,
    SessionAudit? audit = null, ReviewService? reviews = null)
{
    private PolicySnapshot? _grantSnapshot;
    private Grant? _grant;
    private long _nextTicket;

    // Set when the server reports a setting under which Gatehouse cannot read SQL safely: every later statement is refused.
    private string? _unsafeSession;

    public SessionContext Session => session;

    /// <summary>Tells a client whose SQL is not understood the server's syntax error, when it is one; null: never.</summary>
    public ISyntaxCheck? SyntaxCheck { get; init; }

    /// <summary>This session's audit records; null when the gateway runs without an audit trail.</summary>
    public SessionAudit? Audit => audit;

    /// <summary>Masks values and texts for this session's results; null when no masking is wired (then grants with masks are refused).</summary>
    public IValueMasker? Masker => masker;

    /// <summary>A grant of this session has had masks: its rows, notices and notifications are looked at. Sticky, so a
    /// reload that drops the masks cannot unmask rows of statements decided under the old policy.</summary>
    public bool HasMasks => Volatile.Read(ref _hadMasks);

    private bool _hadMasks;

    /// <summary>A grant of this session has recorded result rows (<c>audit: { results: true }</c>) and the session has an
    /// audit trail: its rows are looked at. Sticky like <see cref="HasMasks"/>; false keeps rows streaming untouched.</summary>
    public bool RecordsResults => Volatile.Read(ref _recordsResults);

    private bool _recordsResults;

    /// <summary>The limits of the grant the last statement was decided under (SPEC §3; the wire enforces them).</summary>
    public GrantLimits Limits => _grant?.Limits ?? GrantLimits.None;

    /// <summary>The current grant's masks, for text that belongs to no statement (notifications).</summary>
    public MaskRules? CurrentMaskRules => _grant is { } grant ? MaskRules.For(grant) : null;

    public async ValueTask<Submission> SubmitAsync(StatementRequest request, CancellationToken ct)
    {
        session.Began(request.Sql);
        var (ticket, refusal) = Decide(request);
        var decided = ticket; // its number and decision go to the trail also when a later step refuses it
        if (ticket is { Statements.Count: > 1 } && await NameUsedAfterHiddenCodeAsync(ticket, ct) is { } mixed)
        {
            (ticket, refusal) = (null, mixed);
        }

        if (ticket is { NeedsReview: true } needing && request.PreparedName is null)
        {
            // A query carries no parameters: its review is decided now. A prepared statement's waits for its Bind.
            (ticket, refusal) = await ReviewAsync(needing, request.Sql, [], ct);
        }

        var submission = ticket is null
            ? Refused(await SyntaxChecks.ExplainAsync(SyntaxCheck, refusal!, request.Sql, ct))
            : await WithMasksAsync(ticket, request.Sql, ct);
        var statements = ticket?.Statements ?? _decided.Statements;
        submission = audit is null ? submission : await RecordAsync(request, submission, decided, ct);
        Metrics?.Statements(statements, Outcome(submission));
        session.Decided(submission);
        return submission;
    }

    /// <summary>The session's current (or last) statement as the audit trail would keep it: secrets and detected values scrubbed, cut to <paramref name="maxChars"/>.</summary>
    public string? DescribeActivity(int maxChars)
    {
        if (session.Activity.Sql is not { } sql)
        {
            return null;
        }

        // Scrubbed before it is cut: a password literal across the cut has no closing quote to be found by.
        sql = SqlSecrets.ScrubSql(sql);
        sql = sql.Length > maxChars ? sql[..maxChars] + "…" : sql;
        return _grant is { } grant && masker is not null && MaskRules.For(grant) is { Detectors.Count: > 0 } rules ? masker.Scrub(sql, rules, tainted: false) : sql;
    }

    /// <summary>Counts statements by class and outcome on /metrics; null: not counted.</summary>
    public GatewayMetrics? Metrics { get; init; }

    private static StatementOutcomeLabel Outcome(Submission submission) => submission switch
    {
        { Ticket.ReviewId: not null } => StatementOutcomeLabel.Approved,
        { Ticket.NeedsReview: true } => StatementOutcomeLabel.Review, // a prepared statement: reviewed at its Bind
        { Ticket: not null } => StatementOutcomeLabel.Allow,
        { Refusal.Kind: RefusalKind.ReviewRequired } => StatementOutcomeLabel.Review,
        { Refusal.Kind: RefusalKind.MaskingUnavailable or RefusalKind.AuditUnavailable } => StatementOutcomeLabel.Error,
        _ => StatementOutcomeLabel.Deny,
    };

    private (StatementTicket? Ticket, Refusal? Refusal) Decide(StatementRequest request)
    {
        if (_unsafeSession is not null)
        {
            return (null, Refusals.SessionGuard(_unsafeSession + "; reconnect"));
        }

        var snapshot = policy.Current;
        if (!ReferenceEquals(snapshot, _grantSnapshot))
        {
            _grant = snapshot.FindGrant(session.Principal.Claims, session.Target);
            if (_grant is { Masks.Count: > 0 })
            {
                Volatile.Write(ref _hadMasks, true);
                session.Sql.Masked = true;
            }

            if (_grant is { Audit.Results: true } && audit is not null)
            {
                Volatile.Write(ref _recordsResults, true);
            }

            _grantSnapshot = snapshot;
        }

        if (_grant is null)
        {
            var noGrant = Refusals.NoGrant(session.Principal.Subject, session.Target);
            return (null, noGrant with { SqlState = Refusals.InsufficientPrivilege, Message = noGrant.Message + " under the current policy" });
        }

        int lookups = session.Sql.Lookups;
        var statements = analyzer.Analyze(request.Sql, session.Sql).Statements;
        _decided = (statements, null);

        foreach (var statement in statements)
        {
            if (SettingGuard.Check(statement) is { } problem)
            {
                return (null, Refusals.SessionGuard(problem));
            }
        }

        var decision = snapshot.DecideAll(_grant, statements);
        _decided = (statements, decision);
        bool held = decision.Verdict == PolicyVerdict.Review && reviews is not null && snapshot.Reviews is not null;
        if (decision.Verdict != PolicyVerdict.Allow && !held)
        {
            var ruleId = decision.RuleId ?? "-";
            return (null, decision.Verdict switch
            {
                PolicyVerdict.Deny when ruleId == PolicyDecision.UnknownSqlRuleId => Refusals.NotUnderstood(ruleId, decision.Reason),
                PolicyVerdict.Deny => Refusals.Denied(ruleId, decision.Reason),
                _ => Refusals.ReviewRequired(ruleId, decision.Reason),
            });
        }

        if (session.Sql.CapProblem(statements, request.PreparedName) is { } full)
        {
            return (null, new Refusal(RefusalKind.SessionGuard, "54000", "gatehouse: " + full, "session-guard"));
        }

        var capture = _grant.Audit.Results && audit is not null ? new ResultCapture(_grant.Audit) : null;
        return (new StatementTicket(++_nextTicket, session, statements, decision, request.PreparedName)
        {
            NeedsReview = held, Sql = request.Sql, Result = capture, DecidedUnder = snapshot, SentAfter = session.Sql.HiddenCodeRuns,
            // A query's own run counts (and an unnamed statement's, run right after its Parse: SQL PREPARE through a driver).
            SentGuardedAfter = session.Sql.GuardedRuns + (string.IsNullOrEmpty(request.PreparedName) ? 1 : 0),
            NamesSeen = session.Sql.NameChangesSent, DependsOnNames = session.Sql.Lookups != lookups,
        }, null);
    }

    /// <summary>
    /// The policy changed since <paramref name="ticket"/>, a prepared statement's, was decided: a Bind of it must be
    /// decided again (a reload reaches statements prepared before it, as it reaches every next query).
    /// </summary>
    public bool DecidedUnderOlderPolicy(StatementTicket ticket, object now) => ticket.DecidedUnder is { } decided && !ReferenceEquals(decided, now);

    /// <summary>
    /// The ticket follows a prepared statement or cursor by name (<c>EXECUTE p</c>, <c>FETCH c</c>) and a message that
    /// may change what a name means was sent since it was decided: before it runs it must be decided again (or, as a
    /// bound portal, bound again), since the server runs what the name means at execution.
    /// </summary>
    public bool NamesChangedSince(StatementTicket ticket) => ticket.DependsOnNames && ticket.NamesSeen < session.Sql.NameChangesSent;

    /// <summary>The wire door sends a message that may change what a prepared statement or cursor name means.</summary>
    public void NameChangeSent() => session.Sql.NameChangeSent();

    /// <summary>The wire door answers whether a prepared statement name is being changed by unanswered messages
    /// (<see cref="Gatehouse.Sql.SqlSessionState.PreparedNameChanging"/>).</summary>
    public void WatchPreparedNames(Func<string, bool> changing) => session.Sql.PreparedNameChanging = changing;

    /// <summary>
    /// Whether running the ticket may run code Gatehouse does not read: a DO block or procedure (class code), a statement
    /// not understood, a function outside pg_catalog, an operator or cast made over one. Such code can redefine the
    /// session's prepared statements and cursors (<c>EXECUTE 'PREPARE …'</c>). Unsure (no catalog, or it cannot be
    /// read): yes. Asked only when it matters, and answered once per ticket.
    /// </summary>
    public async ValueTask<bool> RunsHiddenCodeAsync(StatementTicket ticket, CancellationToken ct)
    {
        if (ticket.RunsHiddenCode is { } known)
        {
            return known;
        }

        bool runs = false;
        foreach (var facts in ticket.Statements)
        {
            if (runs = await MayRunHiddenCodeAsync(facts, ticket.Sql, ct))
            {
                break;
            }
        }

        ticket.RunsHiddenCode = runs;
        return runs;
    }

    private async ValueTask<bool> MayRunHiddenCodeAsync(StatementFacts facts, string sql, CancellationToken ct)
    {
        try
        {
            // Once code ran, a relation the catalog does not show may be a temporary view or table it made.
            return facts.Class is StatementClass.Code or StatementClass.Unknown
                || (catalog is null ? facts.Functions.Count > 0 : await catalog.HiddenCodeAsync(facts, sql, ct) is not null)
                || (catalog is not null && session.Sql.HiddenCodeRuns > 0 && await HiddenCode.UsesUnseenRelationAsync(catalog, facts, ct));
        }
        catch (CatalogUnavailableException)
        {
            return true;
        }
    }

    /// <summary>In one query string, a statement that runs a prepared statement or reads a cursor after one that may run
    /// hidden code: it was analyzed as the name's old query, which that code may have replaced.</summary>
    private async ValueTask<Refusal?> NameUsedAfterHiddenCodeAsync(StatementTicket ticket, CancellationToken ct)
    {
        int last = -1;
        for (int i = ticket.Statements.Count - 1; i > 0 && last < 0; i--)
        {
            last = UsesSessionName(ticket.Statements[i]) ? i : -1;
        }

        for (int i = 0; i < last; i++)
        {
            if (await MayRunHiddenCodeAsync(ticket.Statements[i], ticket.Sql, ct))
            {
                return Refusals.NameUsedAfterHiddenCode;
            }
        }

        return null;
    }

    private static bool UsesSessionName(StatementFacts facts) =>
        facts.Commands.Any(c => c is "EXECUTE" or "FETCH" or "MOVE")
        || facts.Functions.Any(f => f.Schema is null or "pg_catalog" && f.Name.StartsWith("cursor_to_xml", StringComparison.Ordinal));

    /// <summary>Statements sent that may run hidden code (<see cref="RunsHiddenCodeAsync"/>): names made before the latest
    /// are not known to SQL EXECUTE and FETCH any more (<see cref="SqlSessionState.HiddenCodeRuns"/>).</summary>
    public long HiddenCodeRuns => session.Sql.HiddenCodeRuns;

    /// <summary>The front door sends a statement that may run hidden code.</summary>
    public void HiddenCodeSent() => session.Sql.HiddenCodeSent();

    /// <summary>The session has masks, or hidden code was sent: code Gatehouse does not recognise is assumed to run anywhere
    /// (<see cref="SqlSessionState.GuardedRuns"/>).</summary>
    public bool Guarded => session.Sql.Guarded;

    public long GuardedRuns => session.Sql.GuardedRuns;

    /// <summary>In a guarded session, a statement runs (or a Sync commits); <paramref name="executes"/>: the prepared
    /// statement it executes.</summary>
    public void GuardedRunSent(string? statement, string? executes) => session.Sql.GuardedRunSent(statement, executes);

    /// <summary>How the client's text is decoded: its client_encoding, as the server last reported it.</summary>
    public System.Text.Encoding ClientText => Volatile.Read(ref _clientText);

    private System.Text.Encoding _clientText = ClientEncodings.StrictUtf8;

    /// <summary>The policy in force now, to compare with (<see cref="DecidedUnderOlderPolicy"/>).</summary>
    public object PolicyNow => policy.Current;

    /// <summary>The server reported a setting (ParameterStatus, at login or after a statement).</summary>
    public void OnServerSetting(string name, string value)
    {
        if (name == "client_encoding" && ClientEncodings.TextEncoding(value) is { } text)
        {
            Volatile.Write(ref _clientText, text);
        }

        if (name == "client_encoding" && ClientEncodings.Problem(value) is { } problem)
        {
            // Every route to an unsafe encoding is refused before it runs; this is the last wall (e.g. a database
            // default), and it keeps the session closed to further statements.
            _unsafeSession = "the server reports " + problem;
        }
    }

    private Submission Refused(Refusal refusal)
    {
        // A syntax error quotes the statement's text, which is not logged above Debug.
        var message = refusal.Kind == RefusalKind.SyntaxError ? $"syntax error at position {refusal.Position}" : refusal.Message;
        PipelineLog.Refused(logger, session.Principal.Subject, session.Target, refusal.RuleId ?? "-", message);
        return new Submission(null, refusal);
    }
}
