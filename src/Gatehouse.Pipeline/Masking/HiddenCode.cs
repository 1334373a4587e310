using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Code a statement runs that Gatehouse does not read: a function outside pg_catalog (called, or in attribute notation
/// <c>o.customer_email</c>), an operator or a cast made over one, a view that calls one, a temporary function or
/// relation (the catalog, read over another session, cannot see them). Masking taints a statement that calls it (its body may
/// read anything); the wire front door re-prepares named statements after it runs (its body may redefine them).
/// </summary>
internal static class HiddenCode
{
    /// <summary>Why the statement may run code Gatehouse cannot see, or null. Without <paramref name="sql"/> operators,
    /// casts and attribute notation are not looked at.</summary>
    public static async ValueTask<string?> CalledAsync(RelationCatalog catalog, StatementFacts facts, string? sql, CancellationToken ct)
    {
        foreach (var function in facts.Functions)
        {
            if (IsTemporary(function.Schema))
            {
                // The catalog is read over another session, which cannot see this session's temporary objects.
                return $"calls {function}, a temporary function";
            }

            if (function.Schema is not ("pg_catalog" or "information_schema") && await catalog.HasUserFunctionAsync(function, ct))
            {
                return $"calls {function}, a function whose body Gatehouse cannot see";
            }
        }

        foreach (var relations in (IReadOnlyList<QualifiedName>[])[facts.ReadRelations, facts.WrittenRelations])
        {
            foreach (var name in relations)
            {
                if (IsTemporary(name.Schema))
                {
                    // A temporary view or table (its defaults) may call anything; the catalog does not show it.
                    return $"uses {name}, a temporary relation";
                }

                foreach (var oid in await catalog.FindAsync(name, ct))
                {
                    if (await catalog.GetAsync(oid, ct) is { CallsHiddenCode: true })
                    {
                        return $"reads {name}, a view that calls code Gatehouse cannot see";
                    }
                }
            }
        }

        if (sql is null)
        {
            return null;
        }

        // An operator is a call of its function: one a DBA made over SQL or PL/pgSQL may read anything.
        var (operators, casts) = OperatorNames.Of(sql, facts);
        foreach (var op in operators)
        {
            if (IsTemporary(op.Schema) || await catalog.HasUserOperatorAsync(op, ct))
            {
                return $"uses the operator {op.Name}, whose function's body Gatehouse cannot see";
            }
        }

        foreach (var type in casts)
        {
            if (IsTemporary(type.Schema) || await catalog.HasUserCastAsync(type, ct))
            {
                return $"casts to {type}, whose cast function's body Gatehouse cannot see";
            }
        }

        // o.customer_email where orders has no such column is the call customer_email(o) (attribute notation).
        if (AttributeNotation.MayHaveReferences(sql, facts)
            && await AttributeNotation.UserFunctionCallAsync(catalog, QualifiedReferences.Of(sql, facts), facts, ct) is { } call)
        {
            return $"calls {call.Name} (attribute notation {AttributeNotation.Show(call)}), a function whose body Gatehouse cannot see";
        }

        return null;
    }

    /// <summary>Whether the statement uses a relation the catalog does not show: one of the session's temporary tables or
    /// views (their defaults and queries may call anything), or one that does not exist.</summary>
    public static async ValueTask<bool> UsesUnseenRelationAsync(RelationCatalog catalog, StatementFacts facts, CancellationToken ct)
    {
        foreach (var relations in (IReadOnlyList<QualifiedName>[])[facts.ReadRelations, facts.WrittenRelations])
        {
            foreach (var name in relations)
            {
                if ((await catalog.FindAsync(name, ct)).Count == 0)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool IsTemporary(string? schema) => schema?.StartsWith("pg_temp", StringComparison.Ordinal) == true;
}
