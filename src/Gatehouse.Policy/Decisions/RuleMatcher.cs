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
/// <c>commands</c> looks at every command the statement runs (<see cref="StatementFacts.Commands"/>: the outer tag,
/// a data-modifying CTE's, MERGE's actions, EXPLAIN ANALYZE's statement…) the same way: a deny/review rule matches
/// when ANY of them matches, an allow rule only when EVERY one does.
/// </summary>
internal static class RuleMatcher
{
    private static readonly string[] RelationDefaultSchemas = ["public"];
    private static readonly string[] FunctionDefaultSchemas = ["pg_catalog", "public"];

    /// <summary>Null when the rule does not match; otherwise what matched, for the decision's reason.
    /// Nothing is allocated for a rule that does not match (the common case: every rule is tried per statement).</summary>
    public static List<string>? Match(PolicyRule rule, StatementFacts facts)
    {
        var when = rule.When;
        var strict = rule.Then == PolicyVerdict.Allow;

        if (when.Classes is not null && !when.Classes.Contains(facts.Class))
        {
            return null;
        }

        string? commandHit = null;
        if (when.Commands is not null)
        {
            commandHit = MatchCommands(when.Commands, facts.Commands, strict);
            if (commandHit is null)
            {
                return null;
            }
        }

        // A rule for modifying classes is about the tables modified: UPDATE orders … FROM payments writes orders only.
        var writtenOnly = when.ClassesAreModifyingOnly;
        var relations = writtenOnly ? new Names(facts.WrittenRelations) : Relations(facts);
        var unlisted = facts.WritesUnlistedRelations || (!writtenOnly && facts.ReadsUnlistedRelations);
        string? tableHit = null, schemaHit = null, functionHit = null;
        if (when.Tables is not null)
        {
            tableHit = unlisted ? Unlisted(strict) : MatchNames(when.Tables, relations, strict, RelationDefaultSchemas);
            if (tableHit is null)
            {
                return null;
            }
        }

        if (when.Schemas is not null)
        {
            schemaHit = unlisted ? Unlisted(strict) : MatchSchemas(when.Schemas, relations, strict);
            if (schemaHit is null)
            {
                return null;
            }
        }

        if (when.Functions is not null)
        {
            functionHit = MatchNames(when.Functions, new Names(facts.Functions), strict, FunctionDefaultSchemas);
            if (functionHit is null && !strict)
            {
                functionHit = FunctionFamilies.Match(when.Functions, facts) ?? MatchAttributeCalls(when.Functions, facts.AttributeCalls);
            }

            if (functionHit is null)
            {
                return null;
            }
        }

        var matched = new List<string>(4);
        if (when.Classes is not null)
        {
            matched.Add("class " + StatementClassNames.ToName(facts.Class));
        }

        if (when.Commands is not null)
        {
            matched.Add((strict ? "commands " : "command ") + commandHit);
        }

        if (tableHit is not null)
        {
            matched.Add((strict ? "tables " : "table ") + tableHit);
        }

        if (schemaHit is not null)
        {
            matched.Add((strict ? "schemas of " : "schema of ") + schemaHit);
        }

        if (functionHit is not null)
        {
            matched.Add((strict ? "functions " : "function ") + functionHit);
        }

        return matched;
    }

    /// <summary>Any mode: the first command a pattern matches. Strict (allow) mode: all of them, when every one
    /// matches. An empty command (a statement not recognised) never matches.</summary>
    private static string? MatchCommands(IReadOnlyList<Glob> globs, IReadOnlyList<string> commands, bool strict)
    {
        foreach (var command in commands)
        {
            var ok = CommandMatches(globs, command);
            if (ok && !strict)
            {
                return command;
            }

            if (!ok && strict)
            {
                return null;
            }
        }

        return strict && commands.Count > 0 ? string.Join(", ", commands) : null;
    }

    /// <summary>A pattern matches the command tag, or its short name: <c>TRUNCATE</c> for the server's
    /// <c>TRUNCATE TABLE</c>, as the docs and most people write it.</summary>
    private static bool CommandMatches(IReadOnlyList<Glob> globs, string command)
    {
        if (command.Length == 0)
        {
            return false;
        }

        var shortName = command == "TRUNCATE TABLE" ? "TRUNCATE" : null;
        foreach (var glob in globs)
        {
            if (glob.IsMatch(command) || (shortName is not null && glob.IsMatch(shortName)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The statement touches tables it does not name (CASCADE, a whole schema): a deny/review rule must
    /// assume one of them is its table; an allow rule cannot know that all of them are.</summary>
    private static string? Unlisted(bool strict) => strict ? null : "(tables the statement reaches without naming them)";

    private static Names Relations(StatementFacts facts) => new(facts.ReadRelations, facts.WrittenRelations);

    /// <summary>One or two name lists walked as one, without an enumerator allocation.</summary>
    private readonly record struct Names(IReadOnlyList<QualifiedName> First, IReadOnlyList<QualifiedName>? Second = null)
    {
        public int Count => First.Count + (Second?.Count ?? 0);

        public QualifiedName this[int i] => i < First.Count ? First[i] : Second![i - First.Count];
    }

    /// <summary>Any mode: the first matching name. Strict (allow) mode: all names, when every one matches.</summary>
    private static string? MatchNames(IReadOnlyList<NamePattern> patterns, Names names, bool strict, string[] defaults)
    {
        List<string>? all = null;
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            var ok = false;
            foreach (var pattern in patterns)
            {
                if (NameMatches(pattern, name, strict, defaults))
                {
                    ok = true;
                    break;
                }
            }

            if (!Collect(name, ok, strict, ref all, out var done))
            {
                return done;
            }
        }

        return strict && all is { Count: > 0 } ? string.Join(", ", all) : null;
    }

    /// <summary>Deny/review: a name that may be a call in attribute notation (<c>(x).pg_sleep</c>) and that a
    /// pattern names. A pattern of every name (<c>*</c>, <c>public.*</c>) is left out: every qualified column
    /// would match it.</summary>
    private static string? MatchAttributeCalls(IReadOnlyList<NamePattern> patterns, IReadOnlyList<QualifiedName> names)
    {
        foreach (var name in names)
        {
            foreach (var pattern in patterns)
            {
                if (!pattern.Name.MatchesEverything && pattern.Name.IsMatch(name.Name))
                {
                    return name.Name + " (may be a call in attribute notation)";
                }
            }
        }

        return null;
    }

    private static string? MatchSchemas(IReadOnlyList<Glob> globs, Names names, bool strict)
    {
        List<string>? all = null;
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            var schema = name.Schema ?? RelationDefaultSchemas[0];
            var ok = false;
            foreach (var glob in globs)
            {
                if (glob.IsMatch(schema))
                {
                    ok = true;
                    break;
                }
            }

            if (!Collect(name, ok, strict, ref all, out var done))
            {
                return done;
            }
        }

        return strict && all is { Count: > 0 } ? string.Join(", ", all) : null;
    }

    /// <summary>False when the walk is decided: <paramref name="result"/> is then the answer.</summary>
    private static bool Collect(QualifiedName name, bool ok, bool strict, ref List<string>? all, out string? result)
    {
        result = null;
        if (!strict)
        {
            if (ok)
            {
                result = name.ToString();
                return false;
            }

            return true;
        }

        if (!ok)
        {
            return false;
        }

        var text = name.ToString();
        all ??= [];
        if (!all.Contains(text))
        {
            all.Add(text);
        }

        return true;
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

        if (!strict || pattern.Schema is null)
        {
            return true;
        }

        foreach (var schema in defaults)
        {
            if (pattern.SchemaMatches(schema))
            {
                return true;
            }
        }

        return false;
    }
}
