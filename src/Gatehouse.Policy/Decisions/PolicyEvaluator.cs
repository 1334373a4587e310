using Gatehouse.Policy.Model;
using Gatehouse.Sql;

namespace Gatehouse.Policy.Decisions;

/// <summary>First matching rule wins; no match allows, except that statements not understood are denied.</summary>
internal static class PolicyEvaluator
{
    public static PolicyDecision Decide(Grant grant, StatementFacts facts)
    {
        var unknown = facts.Class == StatementClass.Unknown;
        foreach (var rule in grant.Rules)
        {
            // Only a rule that names class unknown may allow what the analyzer did not understand.
            if (unknown && rule.Then == PolicyVerdict.Allow && rule.When.Classes?.Contains(StatementClass.Unknown) != true)
            {
                continue;
            }

            if (RuleMatcher.Match(rule, facts) is { } matched)
            {
                return new PolicyDecision
                {
                    Verdict = rule.Then,
                    RuleId = rule.Id,
                    Reason = matched.Count == 0
                        ? $"rule {rule.Id} matches every statement"
                        : $"rule {rule.Id} matched {string.Join(", ", matched)}",
                };
            }
        }

        if (unknown)
        {
            return new PolicyDecision
            {
                Verdict = PolicyVerdict.Deny,
                RuleId = PolicyDecision.UnknownSqlRuleId,
                Reason = "statement not understood: " + (facts.UnknownReason ?? "no reason given"),
            };
        }

        return PolicyDecision.DefaultAllow;
    }

    /// <summary>
    /// All-or-nothing batches: a deny anywhere denies the batch (first deny reported); otherwise a review
    /// anywhere sends the whole batch to review (first review reported); otherwise allow.
    /// </summary>
    public static PolicyDecision DecideAll(Grant grant, IReadOnlyList<StatementFacts> statements)
    {
        PolicyDecision? review = null;
        for (var i = 0; i < statements.Count; i++)
        {
            var decision = Decide(grant, statements[i]);
            if (decision.Verdict == PolicyVerdict.Deny)
            {
                return decision with { StatementIndex = i };
            }

            if (decision.Verdict == PolicyVerdict.Review && review is null)
            {
                review = decision with { StatementIndex = i };
            }
        }

        return review ?? PolicyDecision.DefaultAllow;
    }
}
