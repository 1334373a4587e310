using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Code a statement runs that Gatehouse does not read: a function outside pg_catalog (called, or in attribute notation
/// <c>o.customer_email</c>), an operator or a cast made over one. Masking taints a statement that calls it (its body may
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
            if (function.Schema is not ("pg_catalog" or "information_schema") && await catalog.HasUserFunctionAsync(function, ct))
            {
                return $"calls {function}, a function whose body Gatehouse cannot see";
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
            if (await catalog.HasUserOperatorAsync(op, ct))
            {
                return $"uses the operator {op.Name}, whose function's body Gatehouse cannot see";
            }
        }

        foreach (var type in casts)
        {
            if (await catalog.HasUserCastAsync(type, ct))
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
}
