using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Policy.Model;
using Gatehouse.Policy.Tools;
using Gatehouse.Sql;
using ModelContextProtocol.Protocol;

namespace Gatehouse.Mcp;

/// <summary>
/// explain_decision's answer: the decision <see cref="PolicyExplain.Explain"/> makes (the code behind
/// <c>gatehouse policy explain</c>), the analyzer's facts per statement, and the mask rules that may apply to the
/// relations each statement names. Nothing is run or described upstream.
/// </summary>
internal static class DecisionJson
{
    public static CallToolResult Write(PolicyExplanation explanation, IReadOnlyList<StatementFacts> statements, string sql, string target) => ToolResults.Json(w =>
    {
        w.WriteString("target", target);
        if (explanation.Grant is not { } grant || explanation.Decision is not { } decision)
        {
            w.WriteNull("grant");
            w.WriteStartObject("decision");
            w.WriteString("verdict", "refused at connect");
            w.WriteString("reason", $"gatehouse: no grant (no grant for target '{target}' matches this identity)");
            w.WriteEndObject();
            return;
        }

        var rules = MaskRules.For(grant);
        w.WriteString("grant", $"#{grant.Index + 1} to {grant.To} (line {grant.Line})");
        ToolResults.Strings(w, "db_roles", grant.DbRoles);
        w.WritePropertyName("decision");
        Decision(w, decision);
        w.WriteStartArray("statements");
        for (int i = 0; i < statements.Count; i++)
        {
            var facts = statements[i];
            w.WriteStartObject();
            w.WriteNumber("number", i + 1);
            w.WriteString("text", sql.AsSpan(facts.Start, facts.Length));
            w.WriteString("command", facts.Command);
            w.WriteString("class", StatementClassNames.ToName(facts.Class));
            ToolResults.Strings(w, "reads", facts.ReadRelations.Select(r => r.ToString()));
            ToolResults.Strings(w, "writes", facts.WrittenRelations.Select(r => r.ToString()));
            ToolResults.Strings(w, "functions", facts.Functions.Select(f => f.ToString()));
            if (facts.UnknownReason is { } reason)
            {
                w.WriteString("not_understood", reason);
            }

            w.WritePropertyName("decision");
            Decision(w, explanation.Statements[i]);
            if (rules is not null)
            {
                ToolResults.Strings(w, "masks_for_relations_read", facts.ReadRelations.Distinct()
                    .SelectMany(name => rules.RulesFor(name.Schema, name.Name).Select(r => $"{name}: {r.Pattern} with {r.With}")));
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        ToolResults.Strings(w, "masks", explanation.Masks.Select(m => m.ToString()!));
    });

    private static void Decision(System.Text.Json.Utf8JsonWriter w, PolicyDecision decision)
    {
        w.WriteStartObject();
        w.WriteString("verdict", decision.Verdict.ToString().ToLowerInvariant());
        w.WriteString("rule", decision.RuleId);
        w.WriteString("reason", decision.Reason);
        w.WriteEndObject();
    }
}
