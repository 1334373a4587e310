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
    /// Whether reading the relation can reveal a masked column: a table with a column a rule names, or a view
    /// (transitively) over one. A relation that does not exist is not sensitive (the server refuses to read it);
    /// a chain of views too deep to follow is (fail closed).
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
            sensitive = relation.Columns.Values.Any(c => For(relation.Schema, relation.Name, c) is not null);
            foreach (var dependency in relation.DependsOn.Concat(relation.Parents))
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
}
