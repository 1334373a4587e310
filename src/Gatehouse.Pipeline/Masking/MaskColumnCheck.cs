using Gatehouse.Policy;
using Gatehouse.Sql;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Warns, at start and after each policy reload, about masks that name a column the upstream does not have: most
/// likely a typo, and a mask that matches nothing protects nothing. Only exact <c>schema.table.column</c> patterns
/// can be checked (a pattern with a wildcard or without a schema may rightly match nothing today). A warning never
/// stops the gateway: the column may be created later, and masking itself stays fail-closed either way.
/// </summary>
public static class MaskColumnCheck
{
    /// <summary>Checks the current policy now (in the background) and every successfully reloaded one, logging each problem as a warning.</summary>
    public static void Start(PolicyStore policy, IReadOnlyDictionary<string, RelationCatalog> catalogs, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _ = Task.Run(() => LogAsync(policy.Current, catalogs, logger));
        policy.Reloaded += result =>
        {
            if (result.Success)
            {
                _ = Task.Run(() => LogAsync(result.Snapshot, catalogs, logger));
            }
        };
    }

    /// <summary>One line per exact mask pattern whose relation or column does not exist on <paramref name="target"/>, or one line
    /// saying the catalog could not be read.</summary>
    public static async Task<IReadOnlyList<string>> CheckAsync(PolicySnapshot policy, string target, RelationCatalog catalog, CancellationToken ct)
    {
        var warnings = new List<string>();
        try
        {
            foreach (var grant in policy.Grants.Where(g => g.HasTarget(target)))
            {
                foreach (var mask in grant.Masks)
                {
                    foreach (var pattern in mask.Columns)
                    {
                        if (await ProblemAsync(pattern, catalog, ct) is { } problem)
                        {
                            warnings.Add($"policy {policy.Source}: grant #{grant.Index + 1} (to {grant.To}, line {grant.Line}): mask '{pattern}' (line {mask.Line}) on target \"{target}\": {problem}; it masks nothing");
                        }
                    }
                }
            }
        }
        catch (CatalogUnavailableException ex)
        {
            warnings.Add($"cannot check the mask columns of target \"{target}\": {ex.Message}");
        }

        return warnings;
    }

    private static async ValueTask<string?> ProblemAsync(string pattern, RelationCatalog catalog, CancellationToken ct)
    {
        var parts = pattern.Split('.');
        if (parts.Length != 3 || pattern.AsSpan().IndexOfAny('*', '?') >= 0)
        {
            return null;
        }

        var relation = new QualifiedName(parts[0], parts[1]);
        var oids = await catalog.FindAsync(relation, ct);
        if (oids.Count == 0)
        {
            return $"relation {relation} does not exist";
        }

        foreach (var oid in oids)
        {
            if (await catalog.GetAsync(oid, ct) is { } info && info.Columns.Values.Contains(parts[2], StringComparer.Ordinal))
            {
                return null;
            }
        }

        return $"column {parts[2]} does not exist in {relation}";
    }

    private static async Task LogAsync(PolicySnapshot policy, IReadOnlyDictionary<string, RelationCatalog> catalogs, ILogger logger)
    {
        foreach (var (target, catalog) in catalogs)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                foreach (var warning in await CheckAsync(policy, target, catalog, timeout.Token))
                {
                    PipelineLog.MaskColumnWarning(logger, warning);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                // The gateway is stopping, or the catalog took too long: a warning that cannot be made is not an error.
            }
        }
    }
}
