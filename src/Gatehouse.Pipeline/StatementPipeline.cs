using Gatehouse.Policy;
using Gatehouse.Policy.Model;
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
public sealed class StatementPipeline(PolicyStore policy, SessionContext session, ISqlAnalyzer analyzer, ILogger logger)
{
    private PolicySnapshot? _grantSnapshot;
    private Grant? _grant;
    private long _nextTicket;

    // Set when the server reports a setting under which Gatehouse cannot read SQL safely: every later statement is refused.
    private string? _unsafeSession;

    public SessionContext Session => session;

    public ValueTask<Submission> SubmitAsync(StatementRequest request, CancellationToken ct)
    {
        if (_unsafeSession is not null)
        {
            return Refuse(Refusals.SessionGuard(_unsafeSession + "; reconnect"));
        }

        var snapshot = policy.Current;
        if (!ReferenceEquals(snapshot, _grantSnapshot))
        {
            _grant = snapshot.FindGrant(session.Principal.Claims, session.Target);
            _grantSnapshot = snapshot;
        }

        if (_grant is null)
        {
            var noGrant = Refusals.NoGrant(session.Principal.Subject, session.Target);
            return Refuse(noGrant with { SqlState = Refusals.InsufficientPrivilege, Message = noGrant.Message + " under the current policy" });
        }

        var statements = analyzer.Analyze(request.Sql, session.Sql).Statements;
        foreach (var statement in statements)
        {
            if (SettingGuard.Check(statement) is { } problem)
            {
                return Refuse(Refusals.SessionGuard(problem));
            }
        }

        var decision = snapshot.DecideAll(_grant, statements);
        if (decision.Verdict != PolicyVerdict.Allow)
        {
            var ruleId = decision.RuleId ?? "-";
            return Refuse(decision.Verdict switch
            {
                PolicyVerdict.Deny when ruleId == PolicyDecision.UnknownSqlRuleId => Refusals.NotUnderstood(ruleId, decision.Reason),
                PolicyVerdict.Deny => Refusals.Denied(ruleId, decision.Reason),
                _ => Refusals.ReviewRequired(ruleId, decision.Reason),
            });
        }

        var ticket = new StatementTicket(++_nextTicket, session, statements, decision, request.PreparedName);
        return ValueTask.FromResult(new Submission(ticket, null));
    }

    /// <summary>The server reported a setting (ParameterStatus, at login or after a statement).</summary>
    public void OnServerSetting(string name, string value)
    {
        if (name == "client_encoding" && ClientEncodings.Problem(value) is { } problem)
        {
            // Every route to an unsafe encoding is refused before it runs; this is the last wall (e.g. a database
            // default), and it keeps the session closed to further statements.
            _unsafeSession = "the server reports " + problem;
        }
    }

    private ValueTask<Submission> Refuse(Refusal refusal)
    {
        PipelineLog.Refused(logger, session.Principal.Subject, session.Target, refusal.RuleId ?? "-", refusal.Message);
        return ValueTask.FromResult(new Submission(null, refusal));
    }
}
