using Gatehouse.Policy.Model;
using Gatehouse.Yaml;

namespace Gatehouse.Policy.Loading;

internal sealed partial class PolicyReader
{
    private List<Grant> ReadGrants(YamlNode node, bool hasReviews)
    {
        var grants = new List<Grant>();
        if (AsSequence(node, "'grants'") is not { } seq)
        {
            return grants;
        }

        if (seq.Items.Count == 0)
        {
            Error(seq, "'grants' is an empty list; no identity could connect");
        }

        foreach (var item in seq.Items)
        {
            if (AsMapping(item, "a grant") is { } map && ReadGrant(map, grants.Count, hasReviews) is { } grant)
            {
                grants.Add(grant);
            }
        }

        return grants;
    }

    private Grant? ReadGrant(YamlMapping map, int index, bool hasReviews)
    {
        CheckKeys(map, "a grant", "to", "targets", "db_roles", "rules", "masks", "strict_masking", "limits", "audit");
        var ok = true;
        string? to = null;
        if (Required(map, "to", "a grant") is { } toNode && AsString(toNode, "'to'") is { } toText)
        {
            to = toText;
            if (!_identities.ContainsKey(toText))
            {
                Error(toNode, $"grant refers to undefined identity '{toText}'");
                ok = false;
            }
        }

        var targets = Required(map, "targets", "a grant") is { } targetsNode ? NameList(targetsNode, "'targets'", "a target name", ref ok) : null;
        foreach (var (target, at) in targets ?? [])
        {
            if (_knownTargets is not null && !_knownTargets.Contains(target))
            {
                var known = _knownTargets.Count == 0 ? "none" : string.Join(", ", _knownTargets.Order(StringComparer.Ordinal));
                Error(at, $"grant refers to undefined target '{target}' (configured targets: {known})");
                ok = false;
            }
        }

        var roles = Required(map, "db_roles", "a grant") is { } rolesNode ? NameList(rolesNode, "'db_roles'", "a role name", ref ok) : null;
        foreach (var (role, at) in roles ?? [])
        {
            if (role.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(role) > MaxIdentifierBytes)
            {
                Error(at, role.Length == 0
                    ? "'db_roles' holds an empty role name"
                    : $"role name '{role}' is longer than {MaxIdentifierBytes} bytes; PostgreSQL would cut it to a different name");
                ok = false;
            }
        }
        var rules = map.Find("rules") is { } rulesNode ? ReadRules(rulesNode, hasReviews) : [];
        var masks = map.Find("masks") is { } masksNode ? ReadMasks(masksNode) : [];
        var strict = Keyword(map, "strict_masking", "deny", "redact", ref ok) ?? false;
        var limits = map.Find("limits") is { } limitsNode ? ReadLimits(limitsNode) : GrantLimits.None;
        var audit = map.Find("audit") is { } auditNode ? ReadAudit(auditNode) : GrantAudit.None;
        if (!ok || to is null || targets is null || roles is null || rules is null || limits is null || audit is null)
        {
            return null;
        }

        return new Grant
        {
            To = to,
            Targets = targets.ConvertAll(t => t.Value),
            DbRoles = roles.ConvertAll(r => r.Value),
            Rules = rules,
            Masks = masks,
            StrictMaskingDeny = strict,
            Limits = limits,
            Audit = audit,
            Index = index,
            Line = map.Line,
        };
    }

    /// <summary>PostgreSQL's NAMEDATALEN - 1: a longer identifier is truncated, quoted or not.</summary>
    private const int MaxIdentifierBytes = 63;

    /// <summary>A list of names (a single name counts as a one-entry list, as everywhere). A name is a string: a plain
    /// YAML scalar that reads as a number or true/false (<c>db_roles: 5</c>, <c>targets: [true]</c>) is refused at its
    /// position, with the quoted spelling to write if the name really is that.</summary>
    private List<(string Value, YamlNode Node)>? NameList(YamlNode node, string what, string noun, ref bool ok)
    {
        var names = StringList(node, what);
        var removed = names?.RemoveAll(entry =>
        {
            if (entry.Node is not YamlScalar { IsPlain: true } || NonStringKind(entry.Value) is not { } kind)
            {
                return false;
            }

            Error(entry.Node, $"each entry of {what} must be {noun} (a string), got {kind} '{entry.Value}'; write \"{entry.Value}\" if that is the name");
            return true;
        });
        ok &= removed is null or 0;
        return names;
    }

    /// <summary>What YAML's core schema makes of a plain scalar that is not a string ("a number", "a boolean"); null for a string.</summary>
    private static string? NonStringKind(string plain)
    {
        if (plain is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return "a boolean";
        }

        return NumberPattern().IsMatch(plain) ? "a number" : null;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^([-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?|[-+]?\.[0-9]+([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$")]
    private static partial System.Text.RegularExpressions.Regex NumberPattern();

    private List<PolicyRule>? ReadRules(YamlNode node, bool hasReviews)
    {
        if (AsSequence(node, "'rules'") is not { } seq)
        {
            return null;
        }

        var rules = new List<PolicyRule>();
        var ids = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        PolicyRule? catchAll = null;
        var ok = true;
        foreach (var item in seq.Items)
        {
            if (AsMapping(item, "a rule") is not { } map)
            {
                ok = false;
                continue;
            }

            var rule = ReadRule(map, hasReviews);
            if (rule is null)
            {
                ok = false;
                continue;
            }

            if (ids.TryGetValue(rule.Id, out var first))
            {
                Error(map.Find("id")!, $"duplicate rule id '{rule.Id}' (first at line {first.Line}, column {first.Column})");
                ok = false;
            }
            else
            {
                ids.Add(rule.Id, map.Find("id")!);
            }

            // A catch-all allow skips statements not understood, so later rules can still see those.
            var reachable = catchAll?.Then == PolicyVerdict.Allow
                && rule.When.Classes?.Contains(Gatehouse.Sql.StatementClass.Unknown) != false;
            if (catchAll is not null && !reachable)
            {
                Error(map, $"rule '{rule.Id}' can never match: rule '{catchAll.Id}' (line {catchAll.Line}) matches every statement");
                ok = false;
            }
            else if (rule.When.IsUnconditional)
            {
                catchAll = rule;
            }

            rules.Add(rule);
        }

        return ok ? rules : null;
    }

    private PolicyRule? ReadRule(YamlMapping map, bool hasReviews)
    {
        CheckKeys(map, "a rule", "id", "when", "then");
        var ok = true;
        string? id = null;
        if (Required(map, "id", "a rule") is { } idNode && AsString(idNode, "'id'") is { } idText)
        {
            id = idText;
            if (!IsName(idText))
            {
                Error(idNode, $"rule id '{idText}' must start with a letter or digit and hold only letters, digits, '_', '-', '.'");
                ok = false;
            }
            else if (idText == PolicyDecision.UnknownSqlRuleId)
            {
                Error(idNode, $"rule id '{idText}' is reserved for the built-in deny of statements not understood");
                ok = false;
            }
        }

        var label = id is null ? "a rule" : $"rule '{id}'";
        RuleCondition? when = new();
        if (map.Find("when") is { } whenNode)
        {
            when = ReadCondition(whenNode, label);
        }

        PolicyVerdict? then = null;
        if (Required(map, "then", label) is { } thenNode && AsString(thenNode, "'then'") is { } thenText)
        {
            then = thenText switch
            {
                "allow" => PolicyVerdict.Allow,
                "deny" => PolicyVerdict.Deny,
                "review" => PolicyVerdict.Review,
                _ => null,
            };
            if (then is null)
            {
                Error(thenNode, $"'then' must be allow, deny or review, got '{thenText}'");
            }
            else if (then == PolicyVerdict.Review && !hasReviews)
            {
                Error(thenNode, $"{label} sends statements to review, but the policy has no 'reviews' section");
                ok = false;
            }
        }

        if (!ok || id is null || when is null || then is null)
        {
            return null;
        }

        return new PolicyRule { Id = id, When = when, Then = then.Value, Line = map.Line, Column = map.Column };
    }
}
