using Gatehouse.Policy.Model;
using Gatehouse.Sql;
using Gatehouse.Yaml;

namespace Gatehouse.Policy.Loading;

internal sealed partial class PolicyReader
{
    private RuleCondition? ReadCondition(YamlNode node, string label)
    {
        if (AsMapping(node, $"'when' of {label}") is not { } map)
        {
            return null;
        }

        CheckKeys(map, "'when'", "class", "tables", "schemas", "functions", "commands");
        var ok = true;
        HashSet<StatementClass>? classes = null;
        if (map.Find("class") is { } classNode)
        {
            classes = ReadClasses(classNode, label);
            ok &= classes is not null;
        }

        var tables = ReadPatterns(map, "tables", label, ref ok);
        var functions = ReadPatterns(map, "functions", label, ref ok);
        var schemas = ReadGlobs(map, "schemas", label, forbidDots: true, ref ok);
        var commands = ReadGlobs(map, "commands", label, forbidDots: false, ref ok);

        if (classes is not null && classes.All(c => c == StatementClass.Unknown))
        {
            foreach (var key in (string[])["tables", "schemas", "functions", "commands"])
            {
                if (map.Find(key) is { } conflicting)
                {
                    Error(conflicting, $"{label} can never match: statements of class unknown have no {key}");
                    ok = false;
                }
            }
        }

        return ok
            ? new RuleCondition { Classes = classes, Tables = tables, Schemas = schemas, Functions = functions, Commands = commands }
            : null;
    }

    private HashSet<StatementClass>? ReadClasses(YamlNode node, string label)
    {
        if (StringList(node, "'class'", $"; {label} can never match") is not { } names)
        {
            return null;
        }

        var classes = new HashSet<StatementClass>();
        var ok = true;
        foreach (var (name, at) in names)
        {
            if (StatementClassNames.TryParse(name, out var value))
            {
                classes.Add(value);
            }
            else
            {
                Error(at, $"unknown statement class '{name}'; expected one of: {string.Join(", ", StatementClassNames.All)}");
                ok = false;
            }
        }

        return ok ? classes : null;
    }

    private List<NamePattern>? ReadPatterns(YamlMapping map, string key, string label, ref bool ok)
    {
        if (map.Find(key) is not { } node)
        {
            return null;
        }

        if (StringList(node, $"'{key}'", $"; {label} can never match") is not { } texts)
        {
            ok = false;
            return null;
        }

        var patterns = new List<NamePattern>();
        foreach (var (text, at) in texts)
        {
            if (at is YamlScalar { IsPlain: true } && NonStringKind(text) is { } kind)
            {
                // tables: 7 or functions: [true] is a typo far more often than a relation named 7.
                Error(at, $"each entry of '{key}' must be a name pattern (a string), got {kind} '{text}'; write \"{text}\" if that is the name");
                ok = false;
            }
            else if (NamePattern.TryCreate(text, out var problem) is { } pattern)
            {
                patterns.Add(pattern);
            }
            else
            {
                Error(at, $"bad pattern in '{key}': {problem}");
                ok = false;
            }
        }

        return patterns;
    }

    private List<Glob>? ReadGlobs(YamlMapping map, string key, string label, bool forbidDots, ref bool ok)
    {
        if (map.Find(key) is not { } node)
        {
            return null;
        }

        if (StringList(node, $"'{key}'", $"; {label} can never match") is not { } texts)
        {
            ok = false;
            return null;
        }

        var globs = new List<Glob>();
        foreach (var (text, at) in texts)
        {
            var glob = Glob.TryCreate(text, out var problem);
            if (glob is not null && forbidDots && text.Contains('.'))
            {
                (glob, problem) = (null, $"'{text}' holds a dot; a schema pattern names one schema");
            }

            if (glob is null)
            {
                Error(at, $"bad pattern in '{key}': {problem}");
                ok = false;
            }
            else
            {
                globs.Add(glob);
            }
        }

        return globs;
    }
}
