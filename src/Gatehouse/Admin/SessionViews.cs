using Gatehouse.Audit;
using Gatehouse.Pipeline;
using Gatehouse.Proxy;

namespace Gatehouse.Admin;

/// <summary>Who opened a session, from the claims its session.start keeps (never the token).</summary>
public sealed record IdentityView(string Issuer, string Subject, string? ClientId, string? Name, IReadOnlyList<string> Groups, string? TokenId)
{
    public static IdentityView Of(AuditIdentity identity) =>
        new(identity.Issuer, identity.Subject, identity.ClientId, identity.Name, identity.Groups, identity.TokenId);
}

/// <summary>One session in a list: the trail's counts, and for a live one what it is doing now.</summary>
public sealed record SessionItem(
    string Session,
    DateTimeOffset Started,
    DateTimeOffset? Ended,
    string? EndReason,
    IdentityView Identity,
    string Target,
    string? ClientAddress,
    string FrontDoor,
    bool Live,
    long Statements,
    long Allowed,
    long Denied,
    long Reviewed,
    long Errors,
    string? CurrentStatement = null,
    DateTimeOffset? IdleSince = null)
{
    /// <summary>Longest current statement shown; the trail keeps the whole text.</summary>
    public const int MaxCurrentStatementChars = 4096;

    public static SessionItem Of(SessionSummary s, bool live) => new(
        s.Session, s.Started, s.Ended, s.EndReason, IdentityView.Of(s.Start.Identity), s.Start.Target, s.Start.Client, s.Start.FrontDoor, live,
        s.Statements, s.Allowed, s.Denied, s.Reviewed, s.Errors);

    public static SessionItem Of(LiveSession s)
    {
        var activity = s.Pipeline?.Session.Activity;
        var counts = s.Pipeline?.Session.Counts;
        return new(
            s.Id, s.Started, null, null, IdentityView.Of(SessionAudit.Identity(s.Principal)), s.Target, s.ClientAddress, s.FrontDoor.ToString().ToLowerInvariant(), true,
            counts?.Statements ?? 0, counts?.Allowed ?? 0, counts?.Denied ?? 0, counts?.Reviewed ?? 0, counts?.Errors ?? 0,
            activity?.IdleSince is null ? s.Pipeline?.DescribeActivity(MaxCurrentStatementChars) : null,
            activity is null ? null : activity.IdleSince ?? (activity.Since is null ? s.Started : null));
    }
}

public sealed record SessionList(IReadOnlyList<SessionItem> Sessions, string? Next);

/// <summary>What the client saw for one execution of a statement.</summary>
public sealed record OutcomeItem(DateTimeOffset Time, bool Succeeded, string? CommandTag, long? Rows, double DurationMs, string? Sqlstate, string? Message,
    IReadOnlyList<string?>? Parameters, IReadOnlyList<string> MaskedColumns, string? Review);

/// <summary>One statement as decided, with each of its executions.</summary>
public sealed record StatementItem(
    long Seq, DateTimeOffset Time, string Sql, string? Prepared, IReadOnlyList<string?>? Parameters, string Class, string Decision, string? Rule, string Reason,
    string? Review, string? Sqlstate, string? Message, IReadOnlyList<string> MaskedColumns, IReadOnlyList<OutcomeItem> Outcomes)
{
    public static StatementItem Of(StatementView v)
    {
        var s = v.Statement;
        var outcomes = v.Outcomes.Select(o => Outcome(o.Time, o.Outcome)).ToList();
        return new(s.Statement, v.Time, s.Sql, s.Prepared, outcomes.FirstOrDefault()?.Parameters, ClassOf(s), s.Decision, s.Rule, s.Reason,
            s.Review, s.SqlState, s.Message, [.. outcomes.SelectMany(o => o.MaskedColumns).Distinct(StringComparer.Ordinal)], outcomes);
    }

    public static OutcomeItem Outcome(DateTimeOffset time, OutcomeRecord o) =>
        new(time, o.Succeeded, o.CommandTag, o.Rows, o.DurationMs, o.SqlState, o.Message, o.Parameters, o.MaskedColumns, o.Review);

    /// <summary>The analyzer's class of each statement of the text, distinct, comma-separated ("unknown" when none was understood).</summary>
    public static string ClassOf(StatementRecord s) =>
        s.Parts.Count == 0 ? "unknown" : string.Join(",", s.Parts.Select(p => p.Class).Distinct(StringComparer.Ordinal));
}

public sealed record SessionDetailView(SessionItem Session, IReadOnlyList<StatementItem> Statements);

/// <summary>Rows of a result as the agent saw them (after masking), when its grant records results; null otherwise.</summary>
public sealed record ReplayResult(IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string?>> Rows, IReadOnlyList<string> MaskedColumns, bool Truncated)
{
    public static ReplayResult? Of(AuditResult? r) => r is null ? null : new(r.Columns, r.Rows, r.MaskedColumns, r.Truncated);
}

/// <summary>
/// One step of a replay, in recorded order, <see cref="OffsetMs"/> after the session's start. Fields belong to
/// kinds: start (front_door … upstream_role), statement (seq … message), outcome (seq, command_tag … masked_columns),
/// end (reason, statements); the others are null.
/// </summary>
public sealed record ReplayEvent(
    long OffsetMs, DateTimeOffset Time, string Kind,
    long? Seq = null, string? Sql = null, string? Prepared = null, string? Class = null, string? Decision = null, string? Rule = null, string? Reason = null,
    string? Review = null, bool? Succeeded = null, string? CommandTag = null, long? Rows = null, double? DurationMs = null, string? Sqlstate = null,
    string? Message = null, IReadOnlyList<string?>? Parameters = null, IReadOnlyList<string>? MaskedColumns = null, long? Statements = null,
    string? FrontDoor = null, string? ClientAddress = null, string? Target = null, IdentityView? Identity = null, string? UpstreamRole = null,
    ReplayResult? Result = null)
{
    public static ReplayEvent? Of(SessionEvent e, DateTimeOffset started)
    {
        long offset = (long)Math.Max(0, (e.Time - started).TotalMilliseconds);
        return e switch
        {
            { Start: { } s } => new(offset, e.Time, "start", FrontDoor: s.FrontDoor, ClientAddress: s.Client, Target: s.Target, Identity: IdentityView.Of(s.Identity), UpstreamRole: s.UpstreamRole),
            { Sent: { } s } => new(offset, e.Time, "statement", s.Statement, s.Sql, s.Prepared, StatementItem.ClassOf(s), s.Decision, s.Rule, s.Reason, s.Review,
                Sqlstate: s.SqlState, Message: s.Message),
            { Received: { } o } => new(offset, e.Time, "outcome", o.Statement, Review: o.Review, Succeeded: o.Succeeded, CommandTag: o.CommandTag, Rows: o.Rows,
                DurationMs: o.DurationMs, Sqlstate: o.SqlState, Message: o.Message, Parameters: o.Parameters, MaskedColumns: o.MaskedColumns,
                Result: ReplayResult.Of(o.Result)),
            { End: { } end } => new(offset, e.Time, "end", Reason: end.Reason, Statements: end.Statements),
            _ => null,
        };
    }
}

public sealed record ReplayView(SessionItem Session, IReadOnlyList<ReplayEvent> Events);
