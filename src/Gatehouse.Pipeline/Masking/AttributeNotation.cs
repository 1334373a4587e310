using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// PostgreSQL reads <c>q.name</c> as column <c>name</c> of the relation q stands for when it has one, and otherwise as the
/// call <c>name(q)</c> on q's whole row (attribute notation: <c>c.to_jsonb</c>, <c>o.customer_email</c>,
/// <c>(o).customer_email</c>). The analyzer records a function only where "(" follows its name, so masking tells the two
/// apart here, with the catalog: a reference is a column only when every relation q may stand for has that column.
/// Lookups go through <see cref="RelationCatalog"/>'s caches (by name, by OID, user functions by name), so a statement
/// seen before costs no round trip.
/// </summary>
internal static class AttributeNotation
{
    /// <summary>The relations <paramref name="qualifier"/> may stand for in the statement, and whether it may also stand
    /// for a subquery, a function or a CTE (whose columns are in the statement's text, not in the catalog). A qualifier
    /// the reading cannot place stands for every relation the statement names.</summary>
    public static (IReadOnlyList<QualifiedName> Relations, bool Opaque) Candidates(QualifiedName qualifier, QualifiedReferences names, StatementFacts facts)
    {
        var all = facts.ReadRelations.Concat(facts.WrittenRelations).Distinct().ToList();
        var found = new List<QualifiedName>();
        bool known = false, any = false, opaque = false;
        if (qualifier.Schema is null)
        {
            if (qualifier.Name == "excluded")
            {
                found.AddRange(facts.WrittenRelations); // INSERT … ON CONFLICT DO UPDATE: the row proposed for the target
                known = true;
            }

            if (names.Aliases.TryGetValue(qualifier.Name, out var entries))
            {
                known = true;
                opaque |= entries.Count == 0;
                foreach (var entry in entries)
                {
                    if (entry is { } relation)
                    {
                        found.Add(relation);
                    }
                    else
                    {
                        any = true;
                    }
                }
            }

            if (names.Ctes.Contains(qualifier.Name))
            {
                known = opaque = true;
            }
        }

        // The relation itself, unaliased (customers.email, public.customers.email); by name alone when unqualified.
        foreach (var relation in all)
        {
            if (relation.Name == qualifier.Name && (qualifier.Schema is null || relation.Schema == qualifier.Schema))
            {
                found.Add(relation);
                known = true;
            }
        }

        return any || !known ? (all, true) : (found.Distinct().ToList(), opaque);
    }

    /// <summary>Whether <paramref name="reference"/> is provably a column: its qualifier stands only for relations the
    /// catalog knows, and each of them has a column of that name.</summary>
    public static async ValueTask<bool> IsColumnAsync(RelationCatalog catalog, QualifiedReference reference, QualifiedReferences names, StatementFacts facts, CancellationToken ct)
    {
        if (reference.Qualifier is not { } qualifier)
        {
            return false; // (expr).name
        }

        var (relations, opaque) = Candidates(qualifier, names, facts);
        if (opaque || relations.Count == 0)
        {
            return false;
        }

        foreach (var name in relations)
        {
            var oids = await catalog.FindAsync(name, ct);
            if (oids.Count == 0)
            {
                return false;
            }

            foreach (var oid in oids)
            {
                if (await catalog.GetAsync(oid, ct) is not { } relation || !relation.Columns.Values.Contains(reference.Name))
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>The first dotted reference PostgreSQL may read as a call of a function outside pg_catalog (its body may
    /// read anything), or null.</summary>
    public static async ValueTask<QualifiedReference?> UserFunctionCallAsync(RelationCatalog catalog, QualifiedReferences names, StatementFacts facts, CancellationToken ct)
    {
        foreach (var reference in names.References)
        {
            if (await catalog.HasUserFunctionAsync(new QualifiedName(null, reference.Name), ct)
                && !await IsColumnAsync(catalog, reference, names, facts, ct))
            {
                return reference;
            }
        }

        return null;
    }

    /// <summary>How a reference reads in a message: <c>o.customer_email</c>, <c>(…).customer_email</c>.</summary>
    public static string Show(QualifiedReference reference) => (reference.Qualifier?.ToString() ?? "(…)") + "." + reference.Name;

    /// <summary>Quick test before reading a statement's tokens again: no dot, no dotted reference.</summary>
    public static bool MayHaveReferences(string sql, StatementFacts facts) => sql.AsSpan(facts.Start, facts.Length).Contains('.');
}
