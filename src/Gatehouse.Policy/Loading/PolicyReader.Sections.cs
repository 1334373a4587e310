using Gatehouse.Policy.Model;
using Gatehouse.Yaml;

namespace Gatehouse.Policy.Loading;

internal sealed partial class PolicyReader
{
    private static readonly TimeSpan MaxReviewTimeout = TimeSpan.FromHours(24);

    private void ReadIdentities(YamlNode node)
    {
        if (AsMapping(node, "'identities'") is not { } map)
        {
            return;
        }

        if (map.Entries.Count == 0)
        {
            Error(map, "'identities' is empty; define at least one identity");
        }

        foreach (var (key, value) in map.Entries)
        {
            var name = key.Value;
            if (!IsName(name))
            {
                Error(key, $"identity name '{name}' must start with a letter or digit and hold only letters, digits, '_', '-', '.'");
            }

            if (AsMapping(value, $"identity '{name}'") is not { } body)
            {
                continue;
            }

            CheckKeys(body, $"identity '{name}'", "claims");
            if (Required(body, "claims", $"identity '{name}'") is not { } claimsNode
                || AsMapping(claimsNode, $"'claims' of identity '{name}'") is not { } claimsMap)
            {
                continue;
            }

            if (claimsMap.Entries.Count == 0)
            {
                Error(claimsMap, $"identity '{name}' has no claims; it would match every token");
                continue;
            }

            var claims = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (claimKey, claimValue) in claimsMap.Entries)
            {
                if (claimValue is YamlScalar { IsNull: false } scalar)
                {
                    claims[claimKey.Value] = scalar.Value;
                }
                else
                {
                    Error(claimValue, $"claim '{claimKey.Value}' must be a single value (string, number or true/false), got {claimValue.KindName}");
                }
            }

            _identities[name] = new PolicyIdentity(name, claims, key.Line);
        }
    }

    private ReviewSettings? ReadReviews(YamlNode node)
    {
        if (AsMapping(node, "'reviews'") is not { } map)
        {
            return null;
        }

        CheckKeys(map, "'reviews'", "approvers", "mode", "timeout", "notify", "require", "max_pending");
        string? approvers = null;
        if (Required(map, "approvers", "'reviews'") is { } approversNode && AsString(approversNode, "'approvers'") is { } name)
        {
            approvers = name;
            if (!_identities.ContainsKey(name))
            {
                Error(approversNode, $"'approvers' refers to undefined identity '{name}'");
            }
        }

        var mode = ReviewMode.Hold;
        if (map.Find("mode") is { } modeNode && AsString(modeNode, "'mode'") is { } modeText)
        {
            switch (modeText)
            {
                case "hold": mode = ReviewMode.Hold; break;
                case "async": mode = ReviewMode.Async; break;
                default: Error(modeNode, $"'mode' must be hold or async, got '{modeText}'"); break;
            }
        }

        var timeout = ReviewSettings.DefaultTimeout;
        if (map.Find("timeout") is { } timeoutNode && AsString(timeoutNode, "'timeout'") is { } timeoutText)
        {
            if (!Duration.TryParse(timeoutText, out timeout))
            {
                Error(timeoutNode, $"'timeout' is not a duration: '{timeoutText}' (write e.g. 30s, 10m, 1h30m)");
            }
            else if (timeout <= TimeSpan.Zero || timeout > MaxReviewTimeout)
            {
                Error(timeoutNode, $"'timeout' must be more than 0 and at most 24h, got '{timeoutText}'");
            }
        }

        Uri? webhook = null;
        if (map.Find("notify") is { } notifyNode && AsMapping(notifyNode, "'notify'") is { } notify)
        {
            CheckKeys(notify, "'notify'", "webhook");
            if (notify.Find("webhook") is { } hookNode && AsString(hookNode, "'webhook'") is { } hookText)
            {
                if (Uri.TryCreate(hookText, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp))
                {
                    webhook = uri;
                }
                else
                {
                    Error(hookNode, $"'webhook' must be an absolute http or https URL, got '{hookText}'");
                }
            }
        }

        int require = 1;
        if (map.Find("require") is { } requireNode && AsString(requireNode, "'require'") is { } requireText
            && (!int.TryParse(requireText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out require) || require is < 1 or > 5))
        {
            Error(requireNode, $"'require' must be a number of distinct approvers from 1 to 5, got '{requireText}'");
            require = 1;
        }

        int maxPending = 20;
        if (map.Find("max_pending") is { } pendingNode && AsString(pendingNode, "'max_pending'") is { } pendingText
            && (!int.TryParse(pendingText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out maxPending) || maxPending is < 1 or > 100_000))
        {
            Error(pendingNode, $"'max_pending' must be a number of pending reviews per identity from 1 to 100000, got '{pendingText}'");
            maxPending = 20;
        }

        return approvers is null ? null : new ReviewSettings { Approvers = approvers, Mode = mode, Timeout = timeout, Webhook = webhook, Require = require, MaxPending = maxPending };
    }

    private List<MaskSpec> ReadMasks(YamlNode node)
    {
        var masks = new List<MaskSpec>();
        if (AsSequence(node, "'masks'") is not { } seq)
        {
            return masks;
        }

        foreach (var item in seq.Items)
        {
            if (AsMapping(item, "a mask") is not { } map)
            {
                continue;
            }

            CheckKeys(map, "a mask", "columns", "detect", "with");
            var columnsNode = map.Find("columns");
            var detectNode = map.Find("detect");
            if (columnsNode is not null && detectNode is not null)
            {
                Error(map, "a mask has either 'columns' or 'detect', not both");
            }
            else if (columnsNode is null && detectNode is null)
            {
                Error(map, "a mask needs 'columns' or 'detect'");
            }

            var ok = true;
            var columns = columnsNode is null ? [] : StringList(columnsNode, "'columns'");
            foreach (var (pattern, at) in columns ?? [])
            {
                ok &= CheckColumnPattern(pattern, at);
            }

            var detect = detectNode is null ? [] : StringList(detectNode, "'detect'");
            foreach (var (detector, at) in detect ?? [])
            {
                if (!MaskSpec.KnownDetectors.Contains(detector))
                {
                    Error(at, $"unknown detector '{detector}'; expected one of: {string.Join(", ", MaskSpec.KnownDetectors)}");
                    ok = false;
                }
            }

            string? with = null;
            if (Required(map, "with", "a mask") is { } withNode && AsString(withNode, "'with'") is { } withText)
            {
                with = withText;
                if (!MaskSpec.IsKnownFunction(withText))
                {
                    Error(withNode, $"unknown mask '{withText}'; expected one of: {string.Join(", ", MaskSpec.KnownFunctions)}");
                    ok = false;
                }
            }

            if (ok && with is not null && columns is not null && detect is not null)
            {
                masks.Add(new MaskSpec
                {
                    Columns = columns.ConvertAll(c => c.Value),
                    Detect = detect.ConvertAll(d => d.Value),
                    With = with,
                    Line = map.Line,
                });
            }
        }

        return masks;
    }

    /// <summary>column, table.column or schema.table.column; each part a glob.</summary>
    private bool CheckColumnPattern(string pattern, YamlNode at)
    {
        var parts = pattern.Split('.');
        if (parts.Length > 3)
        {
            Error(at, $"column pattern '{pattern}' has {parts.Length} dot-separated parts; write column, table.column or schema.table.column");
            return false;
        }

        foreach (var part in parts)
        {
            if (Glob.TryCreate(part, out var problem) is null)
            {
                Error(at, $"column pattern '{pattern}': {problem}");
                return false;
            }
        }

        return true;
    }
}
