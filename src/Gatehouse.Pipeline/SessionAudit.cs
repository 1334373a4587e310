using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Gatehouse.Audit;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Sql;

namespace Gatehouse.Pipeline;

/// <summary>Where a session came from, as its front door knows it (audit records carry it).</summary>
public sealed record SessionOrigin(string? ClientAddress, string? Tls);

/// <summary>
/// One session's side of the audit trail. Every statement the pipeline decides is recorded (allowed or refused);
/// the record's write is queued before the statement is forwarded, and <see cref="BarrierAsync"/> is what the front
/// door awaits before it releases a result (CommandComplete, ReadyForQuery): a result the client saw is durable in
/// the trail. Outcomes are recorded after the fact. Values of masked data never enter a record: parameters of
/// statements that touch masked data are withheld, and SQL text and messages pass the grant's detectors.
/// </summary>
public sealed class SessionAudit(AuditTrail trail, SessionContext session) : IHeldRecords
{
    /// <summary>Longest SQL text kept in a record; a longer one is cut, with its length and SHA-256 kept.</summary>
    public const int MaxSqlChars = 1 << 20;

    /// <summary>Longest parameter value kept (characters); longer values are cut with a marker.</summary>
    public const int MaxParameterChars = 1024;

    // Statement records not yet seen durable by a barrier, in the order they were queued.
    private readonly System.Collections.Concurrent.ConcurrentQueue<Task> _pending = new();
    private long _statements;

    // The latest outcome, held for the session's next statement record (one record for both instead of two), or
    // appended on its own when the trail asks (LazyFlush), at the next outcome, or at the session's end.
    private OutcomeRecord? _heldOutcome;

    public AuditTrail Trail => trail;

    /// <summary>On failure the statement runs anyway (<c>audit.on_failure: allow</c>).</summary>
    public bool FailOpen => trail.Options.OnFailure == AuditFailureMode.Allow;

    /// <summary>Records the session's start and waits until it is durable: a session that cannot be recorded does not start.</summary>
    public Task StartAsync(SessionOrigin? origin, CancellationToken ct) =>
        trail.Append(AuditKinds.SessionStarted, session.Id, new SessionStartedRecord(
            session.Id, session.FrontDoor.ToString().ToLowerInvariant(), origin?.ClientAddress, origin?.Tls, session.Target,
            Identity(session.Principal), session.UpstreamUser), ct);

    /// <summary>Records the session's end; the caller may await it (it does not hold anything the client waits for).</summary>
    public Task End(string? reason)
    {
        ReleaseHeld();
        trail.Forget(this);
        return trail.Append(AuditKinds.SessionEnded, session.Id, new SessionEndedRecord(session.Id, Interlocked.Read(ref _statements), reason));
    }

    /// <summary>Appends the held outcome, if any, as a record of its own.</summary>
    public void ReleaseHeld()
    {
        if (Interlocked.Exchange(ref _heldOutcome, null) is { } outcome)
        {
            trail.AppendLazily(AuditKinds.Outcome, session.Id, outcome);
        }
    }

    /// <summary>Queues the record of a decided statement; its durability is part of the next <see cref="BarrierAsync"/>.</summary>
    internal Task RecordStatement(
        long number, StatementRequest request, IReadOnlyList<Gatehouse.Sql.StatementFacts>? statements, Refusal? refusal, PolicyDecision? decision, MaskRules? rules, IValueMasker? masker,
        (string Id, string? Reviewers)? review = null)
    {
        Interlocked.Increment(ref _statements);
        var parts = statements is null ? [] : statements.Select(s => Parts.GetValue(s, Part)).ToList();
        // A statement its rule sends to review is "review" whether it was refused, held, approved, or (prepared) waits
        // for its Bind: how it ended is in its outcome, and the rule is the one that asked for the review.
        string verdict = refusal is null
            ? decision?.Verdict == Gatehouse.Policy.Model.PolicyVerdict.Review ? "review" : "allow"
            : refusal.Kind == RefusalKind.ReviewRequired ? "review" : "deny";
        var record = new StatementRecord(
            session.Id, number, Sql(request.Sql, rules, masker), request.PreparedName, parts, verdict,
            refusal?.RuleId ?? decision?.RuleId, Reason(refusal, decision), refusal?.SqlState, refusal?.Message,
            review?.Id, review?.Reviewers, Interlocked.Exchange(ref _heldOutcome, null));
        var task = trail.Append(AuditKinds.Statement, session.Id, record);
        if (!task.IsCompletedSuccessfully)
        {
            _pending.Enqueue(task); // journaled records are durable already: no barrier to wait at
        }

        return task;
    }

    // A statement's part of its record, made once per analysis: the analyzer's cache hands the same facts to every
    // session that sends the same text, so a repeated statement does not name its relations again.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Gatehouse.Sql.StatementFacts, StatementPart> Parts = new();

    private static StatementPart Part(Gatehouse.Sql.StatementFacts s) => new(
        s.Command, ClassNames[(int)s.Class],
        [.. s.ReadRelations.Select(r => r.ToString())], [.. s.WrittenRelations.Select(r => r.ToString())], [.. s.Functions.Select(f => f.ToString())]);

    // A statement class as records name it ("read", "copyout"), made once.
    private static readonly string[] ClassNames = [.. Enum.GetValues<Gatehouse.Sql.StatementClass>().Select(c => c.ToString().ToLowerInvariant())];

    // The reason of the rule that decided, unless a later step refused the statement for its own (masking, a session
    // guard): an allowed statement refused by masking showed "no rule matched; allowed within db_roles".
    private static string Reason(Refusal? refusal, PolicyDecision? decision) =>
        refusal is not null && (decision is null || refusal.RuleId != decision.RuleId) ? refusal.Message : decision?.Reason ?? string.Empty;

    /// <summary>Records what the client saw for one execution of a ticket.</summary>
    internal void RecordOutcome(StatementTicket ticket, StatementOutcome outcome, MaskRules? rules, IValueMasker? masker)
    {
        double ms = outcome.StartTimestamp == 0 ? 0 : Math.Round(Stopwatch.GetElapsedTime(outcome.StartTimestamp).TotalMilliseconds, 3);
        bool masked = ticket.Masks is { } m && (m.Tainted || ticket.Statements.Any(s => s.WrittenRelations.Count > 0 || s.WritesUnlistedRelations));
        string? message = outcome.Message;
        if (message is not null && ticket.Masks is { Tainted: true } && !ServerMessages.KeepsDataOut(outcome.SqlState, message))
        {
            message = "[withheld: the statement read masked data]";
        }
        else if (message is not null)
        {
            message = SqlSecrets.ScrubText(message);
            if (rules is not null && masker is not null)
            {
                message = masker.Scrub(message, rules, tainted: false);
            }
        }

        IReadOnlyList<string?>? parameters = outcome.Parameters;
        if (parameters is not null && masked)
        {
            parameters = [.. parameters.Select(p => p is null ? null : "[withheld: the statement touches masked data]")];
        }
        else if (parameters is not null)
        {
            // Passwords and tokens whatever the grant; then its detectors.
            parameters = [.. parameters.Select(p => p is null ? null : SqlSecrets.ScrubValue(p))];
            if (rules is { Detectors.Count: > 0 } && masker is not null)
            {
                parameters = [.. parameters.Select(p => p is null ? null : masker.Scrub(p, rules, tainted: false))];
            }
        }

        // An outcome is recorded after the client saw it; a failed write shows as a statement without outcome. Its rows
        // (grants with audit.results) were captured after masking, as the client received them. It is held for the
        // session's next statement record; one held before it is appended now, on its own.
        var record = new OutcomeRecord(
            session.Id, ticket.Id, outcome.Succeeded, outcome.CommandTag, RowCount(outcome.CommandTag), ms, outcome.SqlState, message,
            parameters, [.. ticket.MaskedColumns], ticket.ReviewId, ticket.Reviewers, ticket.Result?.Take(), trail.UtcNow);
        if (Interlocked.Exchange(ref _heldOutcome, record) is { } earlier)
        {
            trail.AppendLazily(AuditKinds.Outcome, session.Id, earlier);
        }
        else
        {
            trail.Holding(this);
        }
    }

    /// <summary>True while a statement record of this session has not been seen durable by a barrier.</summary>
    public bool Outstanding => !_pending.IsEmpty;

    /// <summary>
    /// Waits until every statement record queued so far is durable. Returns null, or the reason one could not be
    /// written, unless the trail fails open. Called by the one side that releases results.
    /// </summary>
    public async ValueTask<string?> BarrierAsync()
    {
        string? failure = null;
        while (_pending.TryDequeue(out var task))
        {
            try
            {
                await task;
            }
            catch (AuditUnavailableException ex)
            {
                failure ??= ex.Message;
            }
        }

        return FailOpen ? null : failure;
    }

    private static string Sql(string sql, MaskRules? rules, IValueMasker? masker)
    {
        sql = SqlSecrets.ScrubSql(sql);
        var kept = sql.Length <= MaxSqlChars
            ? sql
            : string.Create(CultureInfo.InvariantCulture, $"{sql.AsSpan(0, MaxSqlChars)}… [cut: {sql.Length} characters, sha256 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(sql)))}]");
        return rules is { Detectors.Count: > 0 } && masker is not null ? masker.Scrub(kept, rules, tainted: false) : kept;
    }

    private static long? RowCount(string? tag)
    {
        if (tag is null)
        {
            return null;
        }

        int space = tag.LastIndexOf(' ');
        return space > 0 && long.TryParse(tag.AsSpan(space + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long rows) ? rows : null;
    }

    /// <summary>The claims of a token worth keeping, as session.start records them.</summary>
    public static AuditIdentity Identity(Principal principal)
    {
        var claims = principal.Claims;
        string? Claim(string name) => claims.ValueKind == JsonValueKind.Object && claims.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        var groups = new List<string>();
        if (claims.ValueKind == JsonValueKind.Object && claims.TryGetProperty("groups", out var g))
        {
            if (g.ValueKind == JsonValueKind.Array)
            {
                groups.AddRange(g.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!));
            }
            else if (g.ValueKind == JsonValueKind.String)
            {
                groups.Add(g.GetString()!);
            }
        }

        return new AuditIdentity(principal.Issuer, principal.Subject, Claim("azp") ?? Claim("client_id"), Claim("name") ?? Claim("preferred_username"),
            groups, Claim("jti"), principal.TokenHash);
    }
}
