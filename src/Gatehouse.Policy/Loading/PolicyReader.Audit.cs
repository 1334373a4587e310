using System.Globalization;
using Gatehouse.Policy.Model;
using Gatehouse.Yaml;

namespace Gatehouse.Policy.Loading;

internal sealed partial class PolicyReader
{
    /// <summary>A grant's <c>audit</c> mapping; null when it has errors (reported).</summary>
    private GrantAudit? ReadAudit(YamlNode node)
    {
        if (AsMapping(node, "'audit'") is not { } map)
        {
            return null;
        }

        CheckKeys(map, "'audit'", "results", "max_rows", "max_bytes");
        var ok = true;
        bool results = false;
        if (map.Find("results") is { } resultsNode && AsString(resultsNode, "'results'") is { } resultsText)
        {
            results = resultsText == "true";
            if (resultsText is not ("true" or "false"))
            {
                Error(resultsNode, $"'results' must be true or false, got '{resultsText}'");
                ok = false;
            }
        }
        else if (map.Find("results") is not null)
        {
            ok = false;
        }

        int maxRows = AuditBound(map, "max_rows", GrantAudit.DefaultMaxRows, GrantAudit.MaxRowsCap, ref ok);
        int maxBytes = AuditBound(map, "max_bytes", GrantAudit.DefaultMaxBytes, GrantAudit.MaxBytesCap, ref ok);
        if (ok && !results && (map.Find("max_rows") ?? map.Find("max_bytes")) is { } bound)
        {
            Error(bound, "'max_rows' and 'max_bytes' bound recorded results: set 'results: true' too, or leave them out");
            ok = false;
        }

        return ok ? new GrantAudit { Results = results, MaxRows = maxRows, MaxBytes = maxBytes } : null;
    }

    private int AuditBound(YamlMapping map, string key, int fallback, int cap, ref bool ok)
    {
        if (LimitText(map, key, ref ok) is not ({ } node, { } text))
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1 || value > cap)
        {
            Error(node, $"'{key}' must be a whole number from 1 to {cap.ToString(CultureInfo.InvariantCulture)}, got '{text}'");
            ok = false;
            return fallback;
        }

        return value;
    }
}
