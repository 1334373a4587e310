using Gatehouse.Policy.Model;
using Gatehouse.Yaml;

namespace Gatehouse.Policy.Loading;

/// <summary>
/// Turns a YAML tree into the policy model, checking everything on the way. Never stops at the first
/// problem: every error found is collected with its position.
/// </summary>
internal sealed partial class PolicyReader
{
    private readonly string _file;
    private readonly List<YamlError> _errors;
    private readonly IReadOnlySet<string>? _knownTargets;
    private readonly Dictionary<string, PolicyIdentity> _identities = new(StringComparer.Ordinal);

    private PolicyReader(string file, List<YamlError> errors, IReadOnlySet<string>? knownTargets)
    {
        _file = file;
        _errors = errors;
        _knownTargets = knownTargets;
    }

    public static (IReadOnlyDictionary<string, PolicyIdentity>, IReadOnlyList<Grant>, ReviewSettings?) Read(
        YamlNode? root, string file, List<YamlError> errors, IReadOnlySet<string>? knownTargets)
    {
        var reader = new PolicyReader(file, errors, knownTargets);
        if (root is null)
        {
            reader.Error(1, 1, "file is empty; expected a mapping with 'identities' and 'grants'");
            return (reader._identities, [], null);
        }

        if (root is not YamlMapping map)
        {
            reader.Error(root, $"a policy must be a mapping with 'identities' and 'grants', got {root.KindName}");
            return (reader._identities, [], null);
        }

        reader.CheckKeys(map, "the policy", "identities", "grants", "reviews");
        if (reader.Required(map, "identities", "the policy") is { } identities)
        {
            reader.ReadIdentities(identities);
        }

        var reviewsNode = map.Find("reviews");
        var reviews = reviewsNode is null ? null : reader.ReadReviews(reviewsNode);
        var grants = reader.Required(map, "grants", "the policy") is { } grantsNode
            ? reader.ReadGrants(grantsNode, hasReviews: reviewsNode is not null)
            : [];
        return (reader._identities, grants, reviews);
    }

    private void Error(int line, int column, string message) => _errors.Add(new YamlError(_file, line, column, message));

    private void Error(YamlNode at, string message) => Error(at.Line, at.Column, message);

    private void CheckKeys(YamlMapping map, string what, params string[] allowed)
    {
        foreach (var (key, _) in map.Entries)
        {
            if (Array.IndexOf(allowed, key.Value) < 0)
            {
                Error(key, $"unknown key '{key.Value}' in {what}; expected one of: {string.Join(", ", allowed)}");
            }
        }
    }

    private YamlNode? Required(YamlMapping map, string key, string what)
    {
        var node = map.Find(key);
        if (node is null)
        {
            Error(map, $"{what} is missing '{key}'");
        }

        return node;
    }

    private YamlMapping? AsMapping(YamlNode node, string what)
    {
        if (node is YamlMapping map)
        {
            return map;
        }

        Error(node, $"{what} must be a mapping, got {node.KindName}");
        return null;
    }

    private YamlSequence? AsSequence(YamlNode node, string what)
    {
        if (node is YamlSequence seq)
        {
            return seq;
        }

        Error(node, $"{what} must be a list, got {node.KindName}");
        return null;
    }

    private string? AsString(YamlNode node, string what)
    {
        if (node is YamlScalar { IsNull: false } scalar)
        {
            return scalar.Value;
        }

        Error(node, $"{what} must be a string, got {node.KindName}");
        return null;
    }

    /// <summary>A list of strings (a single string counts as a one-entry list). Null when absent or wrong; errors reported.</summary>
    private List<(string Value, YamlNode Node)>? StringList(YamlNode node, string what, string emptyMeans = "")
    {
        var result = new List<(string, YamlNode)>();
        if (node is YamlScalar { IsNull: false } single)
        {
            result.Add((single.Value, single));
            return result;
        }

        if (AsSequence(node, what) is not { } seq)
        {
            return null;
        }

        if (seq.Items.Count == 0)
        {
            Error(node, $"{what} is an empty list{emptyMeans}");
            return null;
        }

        var ok = true;
        foreach (var item in seq.Items)
        {
            if (AsString(item, $"each entry of {what}") is { } value)
            {
                result.Add((value, item));
            }
            else
            {
                ok = false;
            }
        }

        return ok ? result : null;
    }

    private static bool IsName(string value)
    {
        if (value.Length == 0 || value.Length > 128 || !char.IsAsciiLetterOrDigit(value[0]))
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
