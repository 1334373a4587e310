using System.Globalization;
using Gatehouse.Policy.Model;
using Gatehouse.Yaml;

namespace Gatehouse.Policy.Loading;

internal sealed partial class PolicyReader
{
    // PostgreSQL's own timeouts stop at about 24 days (int milliseconds); a longer one is a typo.
    private static readonly TimeSpan MaxLimitTimeout = TimeSpan.FromDays(24);

    /// <summary>A grant's <c>limits</c> mapping; null when it has errors (reported).</summary>
    private GrantLimits? ReadLimits(YamlNode node)
    {
        if (AsMapping(node, "'limits'") is not { } map)
        {
            return null;
        }

        CheckKeys(map, "'limits'", "statement_timeout", "transaction_timeout", "idle_in_transaction_timeout", "max_connections");
        var ok = true;
        var limits = new GrantLimits
        {
            StatementTimeout = LimitDuration(map, "statement_timeout", ref ok),
            TransactionTimeout = LimitDuration(map, "transaction_timeout", ref ok),
            IdleInTransactionTimeout = LimitDuration(map, "idle_in_transaction_timeout", ref ok),
            MaxConnections = LimitCount(map, "max_connections", ref ok),
        };
        return ok ? limits : null;
    }

    private TimeSpan? LimitDuration(YamlMapping map, string key, ref bool ok)
    {
        if (ScalarText(map, key, ref ok) is not ({ } node, { } text))
        {
            return null;
        }

        if (!Duration.TryParse(text, out var value))
        {
            Error(node, $"'{key}' is not a duration: '{text}' (write e.g. 500ms, 30s, 5m)");
            ok = false;
            return null;
        }

        if (value <= TimeSpan.Zero || value > MaxLimitTimeout)
        {
            Error(node, $"'{key}' must be more than 0 and at most 24d, got '{text}' (leave it out for no limit)");
            ok = false;
            return null;
        }

        return value;
    }

    /// <summary>A whole number of at least 1 (and at most <paramref name="cap"/>); null when absent or wrong (reported).</summary>
    private int? LimitCount(YamlMapping map, string key, ref bool ok, int? cap = null)
    {
        if (ScalarText(map, key, ref ok) is not ({ } node, { } text))
        {
            return null;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1 || value > cap)
        {
            Error(node, cap is { } most
                ? $"'{key}' must be a whole number from 1 to {most.ToString(CultureInfo.InvariantCulture)}, got '{text}'"
                : $"'{key}' must be a whole number of at least 1, got '{text}'");
            ok = false;
            return null;
        }

        return value;
    }

    /// <summary>One of two keywords: true for <paramref name="yes"/>, false for <paramref name="no"/>; null when absent or neither (reported).</summary>
    private bool? Keyword(YamlMapping map, string key, string yes, string no, ref bool ok)
    {
        if (ScalarText(map, key, ref ok) is not ({ } node, { } text))
        {
            return null;
        }

        if (text != yes && text != no)
        {
            Error(node, $"'{key}' must be {yes} or {no}, got '{text}'");
            ok = false;
            return null;
        }

        return text == yes;
    }

    /// <summary>The key's node and text; null when absent, or not a string (reported, <paramref name="ok"/> cleared).</summary>
    private (YamlNode Node, string Text)? ScalarText(YamlMapping map, string key, ref bool ok)
    {
        if (map.Find(key) is not { } node)
        {
            return null;
        }

        if (AsString(node, $"'{key}'") is not { } text)
        {
            ok = false;
            return null;
        }

        return (node, text);
    }
}
