using System.Text.Json;
using Gatehouse.Policy;
using Gatehouse.Policy.Model;
using Gatehouse.Sql;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Pipeline;

/// <summary>
/// One session's statement path: analyze → decide (current policy snapshot) → forward or refuse.
/// The snapshot is read per statement, so a policy reload reaches sessions that are already open.
/// All statements of a query string are decided before any is forwarded: one refusal stops them all.
/// What a statement changes in the session (prepared statements, cursors) is applied only when it is
/// forwarded, so a refused statement leaves the session as it was.
/// </summary>
public sealed class PolicyStatementGate(
    PolicyStore policy, JsonElement claims, string subject, string target, ISqlAnalyzer analyzer, ILogger logger) : IStatementGate
{
    private readonly SqlSessionState _session = new();
    private PolicySnapshot? _grantSnapshot;
    private Grant? _grant;

    // Set when the server reports a setting under which Gatehouse cannot read SQL safely: every later statement is refused.
    private string? _unsafeSession;

    public ValueTask<GateVerdict> OnQueryAsync(string sql, CancellationToken ct)
    {
        var (verdict, statements) = Decide(sql);
        if (verdict.Forward)
        {
            foreach (var statement in statements)
            {
                _session.Apply(statement);
            }
        }

        return ValueTask.FromResult(verdict);
    }

    public ValueTask<GateVerdict> OnParseAsync(string statementName, string sql, CancellationToken ct)
    {
        var (verdict, statements) = Decide(sql);
        if (verdict.Forward && statements.Count == 1)
        {
            _session.Apply(statements[0]);
            if (statementName.Length > 0)
            {
                // Protocol-level and SQL-level prepared statements share one namespace: SQL EXECUTE can run this one.
                _session.RegisterPrepared(statementName, statements[0]);
            }
        }

        return ValueTask.FromResult(verdict);
    }

    public void OnReadyForQuery(char transactionStatus)
    {
    }

    public void OnParameterStatus(string name, string value)
    {
        if (name == "client_encoding" && ClientEncodings.Problem(value) is { } problem)
        {
            // Every route to an unsafe encoding is refused before it runs; this is the last wall (e.g. a
            // database default), and it holds the session closed to further statements.
            _unsafeSession = "the server reports " + problem;
        }
    }

    private (GateVerdict Verdict, IReadOnlyList<StatementFacts> Statements) Decide(string sql)
    {
        if (_unsafeSession is not null)
        {
            return (Refuse("session-guard", "gatehouse: denied: " + _unsafeSession + "; reconnect"), []);
        }

        var snapshot = policy.Current;
        if (!ReferenceEquals(snapshot, _grantSnapshot))
        {
            _grant = snapshot.FindGrant(claims, target);
            _grantSnapshot = snapshot;
        }

        if (_grant is null)
        {
            return (Refuse(null, $"gatehouse: no grant for \"{subject}\" on target \"{target}\" under the current policy"), []);
        }

        var statements = analyzer.Analyze(sql, _session).Statements;
        if (statements.Count == 0)
        {
            return (GateVerdict.Allow, statements);
        }

        foreach (var statement in statements)
        {
            if (SettingGuard.Check(statement) is { } problem)
            {
                return (Refuse("session-guard", "gatehouse: denied: " + problem), statements);
            }
        }

        var decision = snapshot.DecideAll(_grant, statements);
        var verdict = decision.Verdict switch
        {
            PolicyVerdict.Allow => GateVerdict.Allow,
            PolicyVerdict.Deny when decision.RuleId == PolicyDecision.UnknownSqlRuleId =>
                Refuse(decision.RuleId, $"gatehouse: {decision.Reason}"),
            PolicyVerdict.Deny => Refuse(decision.RuleId, $"gatehouse: denied by rule {decision.RuleId}: {decision.Reason}"),
            _ => Refuse(decision.RuleId, $"gatehouse: denied by rule {decision.RuleId}: the statement needs review, and this gateway has no approval workflow yet ({decision.Reason})"),
        };
        return (verdict, statements);
    }

    private GateVerdict Refuse(string? ruleId, string message)
    {
        PipelineLog.Refused(logger, subject, target, ruleId ?? "-", message);
        return GateVerdict.Refuse("42501", message);
    }
}
