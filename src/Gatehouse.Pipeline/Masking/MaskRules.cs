using System.Runtime.CompilerServices;
using Gatehouse.Policy.Model;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// A grant's <c>masks</c>, compiled: column rules (first match wins) and content detectors. One instance per grant
/// object, so a policy reload (new grant objects) gets fresh rules; what was learned about relations is kept per
/// catalog generation.
/// </summary>
public sealed class MaskRules
{
    private static readonly ConditionalWeakTable<Grant, MaskRules> Compiled = new();

    private readonly List<(Glob? Schema, Glob? Table, Glob Column, string With, string Text)> _columns = [];
    private readonly Dictionary<(long Generation, uint Oid), bool> _sensitive = [];
    private readonly Dictionary<(long Generation, uint Oid, string Column), (string With, string Pattern)?> _columnRules = [];
    private readonly Lock _gate = new();

    private MaskRules(Grant grant)
    {
        StrictDeny = grant.StrictMaskingDeny;
        foreach (var mask in grant.Masks)
        {
            foreach (var pattern in mask.Columns)
            {
                var parts = pattern.Split('.');
                Glob? Part(int i) => Glob.TryCreate(parts[i], out _);
                switch (parts.Length)
                {
                    case 1 when Part(0) is { } c:
                        _columns.Add((null, null, c, mask.With, pattern));
                        break;
                    case 2 when Part(0) is { } t && Part(1) is { } c:
                        _columns.Add((null, t, c, mask.With, pattern));
                        break;
                    case 3 when Part(0) is { } s && Part(1) is { } t && Part(2) is { } c:
                        _columns.Add((s, t, c, mask.With, pattern));
                        break;
                }
            }

            if (mask.Detect.Count > 0)
            {
                Detectors = [.. Detectors, .. mask.Detect];
                DetectWith ??= mask.With;
            }
        }
    }

    /// <summary>Null when the grant has no masks at all (nothing to do on its sessions' results).</summary>
    public static MaskRules? For(Grant grant) => grant.Masks.Count == 0 ? null : Compiled.GetValue(grant, static g => new MaskRules(g));

    public bool HasColumnRules => _columns.Count > 0;

    /// <summary>The grant's <c>strict_masking: deny</c>: an untraceable column of a tainted statement refuses the result.</summary>
    public bool StrictDeny { get; }

    /// <summary>Content detectors to run on every text value not masked by a column rule.</summary>
    public IReadOnlyList<string> Detectors { get; private set; } = [];

    public string? DetectWith { get; private set; }

    /// <summary>The first column rule for schema.table.column: its <c>with</c> and pattern, or null.</summary>
    public (string With, string Pattern)? For(string schema, string table, string column)
    {
        foreach (var rule in _columns)
        {
            if (rule.Column.IsMatch(column) && (rule.Table?.IsMatch(table) ?? true) && (rule.Schema?.IsMatch(schema) ?? true))
            {
                return (rule.With, rule.Text);
            }
        }

        return null;
    }

    /// <summary>The column rules that may apply to columns of a relation of this name (schema null: any schema), in order.
    /// For <c>policy explain</c> when the catalog cannot be read: without it, views and inheritance are not followed.</summary>
    public IEnumerable<(string Pattern, string With)> RulesFor(string? schema, string table) => _columns
        .Where(r => (r.Table?.IsMatch(table) ?? true) && (schema is null || (r.Schema?.IsMatch(schema) ?? true)))
        .Select(r => (r.Text, r.With));

    /// <summary>
    /// Whether reading the relation can reveal a masked column: a table with a column whose rule
    /// (<see cref="ColumnRuleAsync"/>: its own, an ancestor's or a descendant's) masks it, the planner statistics, or a
    /// view (transitively) over one or calling code Gatehouse cannot see. A relation that does not exist is not
    /// sensitive (the server refuses to read it); a chain of views too deep to follow is (fail closed).
    /// </summary>
    public async ValueTask<bool> IsSensitiveAsync(RelationCatalog catalog, uint oid, CancellationToken ct, int depth = 0)
    {
        var key = (catalog.Generation, oid);
        lock (_gate)
        {
            if (_sensitive.TryGetValue(key, out var known))
            {
                return known;
            }
        }

        bool sensitive;
        var relation = await catalog.GetAsync(oid, ct);
        if (relation is null || depth > 16)
        {
            sensitive = relation is not null;
        }
        else
        {
            sensitive = relation.CallsHiddenCode || IsStatistics(relation);
            foreach (var column in relation.Columns.Values)
            {
                if (sensitive)
                {
                    break;
                }

                sensitive = await ColumnRuleAsync(catalog, relation, column, ct) is not null;
            }

            foreach (var dependency in relation.DependsOn)
            {
                if (sensitive)
                {
                    break;
                }

                sensitive = await IsSensitiveAsync(catalog, dependency, ct, depth + 1);
            }
        }

        lock (_gate)
        {
            _sensitive[key] = sensitive;
        }

        return sensitive;
    }

    /// <summary>
    /// The rule for a column of a relation: the first rule naming it, else the first of a table it inherits from or
    /// partitions (nearest first); else, since reading a parent reads its children's rows, the rule of the same-named
    /// column of its descendants (inheritance children and partitions, transitively, each by its own and its ancestors'
    /// rules). Descendants whose rules disagree on the strategy give <c>redact</c> (fail closed). The stored columns of
    /// pg_statistic and pg_statistic_ext_data (samples of every column's values) are redacted.
    /// </summary>
    // A stored generated column holds what its sources hold (lower(email) is the address): redacted when a source is
    // masked, or when its expression calls a function Gatehouse cannot see (which may read masked data anywhere).
    private async ValueTask<(string With, string Pattern)?> GeneratedRuleAsync(
        RelationCatalog catalog, RelationInfo relation, string column, GeneratedColumn generated, CancellationToken ct)
    {
        if (generated.CallsUserCode)
        {
            return ("redact", $"{relation.Schema}.{relation.Name}.{column} is generated by a function Gatehouse cannot see");
        }

        foreach (var source in generated.Sources)
        {
            if (await ColumnRuleAsync(catalog, relation, source, ct) is { } masked)
            {
                return ("redact", $"{relation.Schema}.{relation.Name}.{column} is generated from {source} ({masked.Pattern})");
            }
        }

        return null;
    }

    public async ValueTask<(string With, string Pattern)?> ColumnRuleAsync(RelationCatalog catalog, RelationInfo relation, string column, CancellationToken ct)
    {
        if (For(relation.Schema, relation.Name, column) is { } own)
        {
            return own;
        }

        if (IsStatistics(relation) && relation.Kind == 'r')
        {
            return ("redact", "planner statistics");
        }

        if (relation.Generated.TryGetValue(column, out var generated) && await GeneratedRuleAsync(catalog, relation, column, generated, ct) is { } derived)
        {
            return derived;
        }

        if (relation.Parents.Count == 0 && relation.Descendants.Count == 0)
        {
            return null;
        }

        var key = (catalog.Generation, relation.Oid, column);
        lock (_gate)
        {
            if (_columnRules.TryGetValue(key, out var known))
            {
                return known;
            }
        }

        var rule = await AncestorRuleAsync(catalog, relation, column, 0, ct);
        if (rule is null && relation.Descendants.Count > 0)
        {
            foreach (var descendant in await catalog.GetManyAsync(relation.Descendants, ct))
            {
                if (!descendant.Columns.Values.Contains(column)
                    || (await AncestorRuleAsync(catalog, descendant, column, 0, ct)
                        ?? (descendant.Generated.TryGetValue(column, out var generatedBelow) ? await GeneratedRuleAsync(catalog, descendant, column, generatedBelow, ct) : null)) is not { } found)
                {
                    continue;
                }

                if (rule is null)
                {
                    rule = found;
                }
                else if (rule.Value.With != found.With)
                {
                    rule = ("redact", $"{rule.Value.Pattern} and {found.Pattern} disagree on descendants of {relation.Schema}.{relation.Name}");
                    break;
                }
            }
        }

        lock (_gate)
        {
            _columnRules[key] = rule;
        }

        return rule;
    }

    private async ValueTask<(string With, string Pattern)?> AncestorRuleAsync(RelationCatalog catalog, RelationInfo relation, string column, int depth, CancellationToken ct)
    {
        if (For(relation.Schema, relation.Name, column) is { } rule)
        {
            return rule;
        }

        foreach (var parentOid in relation.Parents)
        {
            if (depth < 16 && await catalog.GetAsync(parentOid, ct) is { } parent && await AncestorRuleAsync(catalog, parent, column, depth + 1, ct) is { } inherited)
            {
                return inherited;
            }
        }

        return null;
    }

    // Planner statistics hold samples of column values (most common values, histogram bounds, expression statistics).
    private static bool IsStatistics(RelationInfo relation) =>
        relation.Schema == "pg_catalog" && relation.Name is "pg_statistic" or "pg_statistic_ext_data" or "pg_stats" or "pg_stats_ext" or "pg_stats_ext_exprs";
}
