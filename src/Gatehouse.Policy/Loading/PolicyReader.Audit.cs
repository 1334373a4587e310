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
        bool results = Keyword(map, "results", "true", "false", ref ok) ?? false;
        int maxRows = LimitCount(map, "max_rows", ref ok, GrantAudit.MaxRowsCap) ?? GrantAudit.DefaultMaxRows;
        int maxBytes = LimitCount(map, "max_bytes", ref ok, GrantAudit.MaxBytesCap) ?? GrantAudit.DefaultMaxBytes;
        if (ok && !results && (map.Find("max_rows") ?? map.Find("max_bytes")) is { } bound)
        {
            Error(bound, "'max_rows' and 'max_bytes' bound recorded results: set 'results: true' too, or leave them out");
            ok = false;
        }

        return ok ? new GrantAudit { Results = results, MaxRows = maxRows, MaxBytes = maxBytes } : null;
    }
}
