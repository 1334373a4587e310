using System.Text.Json;

namespace Gatehouse.Policy.Model;

/// <summary>A named set of token claims; a token matches when every listed claim matches.</summary>
public sealed class PolicyIdentity(string name, IReadOnlyDictionary<string, string> claims, int line)
{
    public string Name { get; } = name;

    /// <summary>Claim name → required value. A string/number/boolean claim must equal it; an array claim must contain it.</summary>
    public IReadOnlyDictionary<string, string> Claims { get; } = claims;

    public int Line { get; } = line;

    public bool Matches(JsonElement tokenClaims)
    {
        if (tokenClaims.ValueKind != JsonValueKind.Object || Claims.Count == 0)
        {
            return false;
        }

        foreach (var (claim, expected) in Claims)
        {
            if (!tokenClaims.TryGetProperty(claim, out var actual) || !ValueMatches(actual, expected))
            {
                return false;
            }
        }

        return true;
    }

    private static bool ValueMatches(JsonElement actual, string expected)
    {
        if (actual.ValueKind != JsonValueKind.Array)
        {
            return ScalarEquals(actual, expected);
        }

        foreach (var item in actual.EnumerateArray())
        {
            if (ScalarEquals(item, expected))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Strings compare ordinally; numbers by their JSON text; booleans as true/false. Objects and null never match.</summary>
    private static bool ScalarEquals(JsonElement actual, string expected) => actual.ValueKind switch
    {
        JsonValueKind.String => string.Equals(actual.GetString(), expected, StringComparison.Ordinal),
        JsonValueKind.Number => string.Equals(actual.GetRawText(), expected, StringComparison.Ordinal),
        JsonValueKind.True => string.Equals(expected, "true", StringComparison.OrdinalIgnoreCase),
        JsonValueKind.False => string.Equals(expected, "false", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };
}
