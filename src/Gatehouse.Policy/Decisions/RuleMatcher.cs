using Gatehouse.Policy.Model;
using Gatehouse.Sql;

namespace Gatehouse.Policy.Decisions;

/// <summary>
/// Does one rule's <c>when</c> hold for one statement? Conditions are ANDed, list entries ORed.
/// Relation and function conditions are fail-safe in both directions:
/// <list type="bullet">
/// <item>deny/review rules match when ANY relation (function) matches; in <c>tables</c>/<c>functions</c> an
/// unqualified name matches a pattern whatever the pattern's schema part, since search_path may point anywhere;</item>
/// <item>allow rules match only when EVERY relation (function) matches, and there is at least one; an unqualified
/// relation counts as <c>public</c>, an unqualified function as <c>pg_catalog</c> or <c>public</c>.</item>
/// </list>
/// <c>schemas</c> counts an unqualified relation as <c>public</c> for every verdict: matching it against any schema
/// would make a schema deny rule refuse nearly all SQL. Docs/policy.md says how to close the search_path gap.
/// </summary>
internal static class RuleMatcher
{
    private static readonly string[] RelationDefaultSchemas = ["public"];
    private static readonly string[] FunctionDefaultSchemas = ["pg_catalog", "public"];

    /// <summary>Null when the rule does not match; otherwise what matched, for the decision's reason.</summary>
    public static List<string>? Match(PolicyRule rule, StatementFacts facts)
    {
        var when = rule.When;
        var strict = rule.Then == PolicyVerdict.Allow;
        var matched = new List<string>(4);

        if (when.Classes is not null)
        {
            if (!when.Classes.Contains(facts.Class))
            {
                return null;
            }

            matched.Add("class " + StatementClassNames.ToName(facts.Class));
        }

        if (when.Commands is not null)
        {
            if (!when.Commands.Any(c => c.IsMatch(facts.Command)) || facts.Command.Length == 0)
            {
                return null;
            }

            matched.Add("command " + facts.Command);
        }

        // A rule for modifying classes is about the tables modified: UPDATE orders … FROM payments writes orders only.
        var writtenOnly = when.Classes is { Count: > 0 } classes && classes.All(c => c is StatementClass.Write or StatementClass.Ddl);
        var relations = writtenOnly ? facts.WrittenRelations : Relations(facts);
        var unlisted = facts.WritesUnlistedRelations || (!writtenOnly && facts.ReadsUnlistedRelations);
        if (when.Tables is not null)
        {
            var hit = unlisted ? Unlisted(strict) : MatchNames(when.Tables, relations, strict, RelationDefaultSchemas);
            if (hit is null)
            {
                return null;
            }

            matched.Add((strict ? "tables " : "table ") + hit);
        }

        if (when.Schemas is not null)
        {
            var hit = unlisted ? Unlisted(strict) : MatchSchemas(when.Schemas, relations, strict);
            if (hit is null)
            {
                return null;
            }

            matched.Add((strict ? "schemas of " : "schema of ") + hit);
        }

        if (when.Functions is not null)
        {
            var hit = MatchNames(when.Functions, facts.Functions, strict, FunctionDefaultSchemas);
            if (hit is null && !strict)
            {
                hit = FunctionFamilies.Match(when.Functions, facts);
            }

            if (hit is null)
            {
                return null;
            }

            matched.Add((strict ? "functions " : "function ") + hit);
        }

        return matched;
    }

    /// <summary>The statement touches tables it does not name (CASCADE, a whole schema): a deny/review rule must
    /// assume one of them is its table; an allow rule cannot know that all of them are.</summary>
    private static string? Unlisted(bool strict) => strict ? null : "(tables the statement reaches without naming them)";

    private static IEnumerable<QualifiedName> Relations(StatementFacts facts) => facts.ReadRelations.Concat(facts.WrittenRelations);

    /// <summary>Any mode: the first matching name. Strict (allow) mode: all names, when every one matches.</summary>
    private static string? MatchNames(IReadOnlyList<NamePattern> patterns, IEnumerable<QualifiedName> names, bool strict, string[] defaults) =>
        MatchEach(names, strict, name => patterns.Any(p => NameMatches(p, name, strict, defaults)));

    private static string? MatchEach(IEnumerable<QualifiedName> names, bool strict, Func<QualifiedName, bool> matches)
    {
        var all = new List<string>();
        foreach (var name in names)
        {
            var ok = matches(name);
            if (!strict && ok)
            {
                return name.ToString();
            }

            if (strict && !ok)
            {
                return null;
            }

            if (strict && !all.Contains(name.ToString()))
            {
                all.Add(name.ToString());
            }
        }

        return strict && all.Count > 0 ? string.Join(", ", all) : null;
    }

    private static bool NameMatches(NamePattern pattern, QualifiedName name, bool strict, string[] defaults)
    {
        if (!pattern.Name.IsMatch(name.Name))
        {
            return false;
        }

        if (name.Schema is not null)
        {
            return pattern.SchemaMatches(name.Schema);
        }

        return !strict || pattern.Schema is null || defaults.Any(pattern.SchemaMatches);
    }

    private static string? MatchSchemas(IReadOnlyList<Glob> globs, IEnumerable<QualifiedName> names, bool strict) =>
        MatchEach(names, strict, name => globs.Any(g => g.IsMatch(name.Schema ?? RelationDefaultSchemas[0])));
}
