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
/// </summary>
public sealed class PolicyStatementGate(
    PolicyStore policy, JsonElement claims, string subject, string target, ISqlAnalyzer analyzer, ILogger logger) : IStatementGate
{
    private readonly SqlSessionState _session = new();
    private PolicySnapshot? _grantSnapshot;
    private Grant? _grant;

    public ValueTask<GateVerdict> OnQueryAsync(string sql, CancellationToken ct) => ValueTask.FromResult(Decide(sql));

    public ValueTask<GateVerdict> OnParseAsync(string statementName, string sql, CancellationToken ct) => ValueTask.FromResult(Decide(sql));

    public void OnReadyForQuery(char transactionStatus)
    {
    }

    public void OnParameterStatus(string name, string value)
    {
        if (name == "standard_conforming_strings")
        {
            _session.StandardConformingStrings = value == "on";
        }
    }

    private GateVerdict Decide(string sql)
    {
        var snapshot = policy.Current;
        if (!ReferenceEquals(snapshot, _grantSnapshot))
        {
            _grant = snapshot.FindGrant(claims, target);
            _grantSnapshot = snapshot;
        }

        if (_grant is null)
        {
            return Refuse(null, $"gatehouse: no grant for \"{subject}\" on target \"{target}\" under the current policy");
        }

        var statements = analyzer.Analyze(sql, _session).Statements;
        if (statements.Count == 0)
        {
            return GateVerdict.Allow;
        }

        foreach (var statement in statements)
        {
            if (SettingGuard.Check(sql, statement) is { } problem)
            {
                return Refuse("session-guard", "gatehouse: denied: " + problem);
            }
        }

        var decision = snapshot.DecideAll(_grant, statements);
        return decision.Verdict switch
        {
            PolicyVerdict.Allow => GateVerdict.Allow,
            PolicyVerdict.Deny when decision.RuleId == PolicyDecision.UnknownSqlRuleId =>
                Refuse(decision.RuleId, $"gatehouse: statement not understood: {decision.Reason}"),
            PolicyVerdict.Deny => Refuse(decision.RuleId, $"gatehouse: denied by rule {decision.RuleId}: {decision.Reason}"),
            _ => Refuse(decision.RuleId, $"gatehouse: denied by rule {decision.RuleId}: the statement needs review, and this gateway has no approval workflow yet ({decision.Reason})"),
        };
    }

    private GateVerdict Refuse(string? ruleId, string message)
    {
        PipelineLog.Refused(logger, subject, target, ruleId ?? "-", message);
        return GateVerdict.Refuse("42501", message);
    }
}
