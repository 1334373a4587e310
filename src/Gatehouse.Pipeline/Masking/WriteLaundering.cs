using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Refuses a write, in a statement that reads masked data, whose written values could come from a masked column:
/// into any column of the same table (<c>UPDATE customers SET name = email</c>) or of another one. Reading masked
/// data while writing stays allowed when the statement's values provably do not reference it: no masked column
/// (by name, through any view column traced to one) in a value position, no whole-row reference to a relation or alias,
/// no <c>*</c> or <c>TABLE</c>, no function whose body or text argument Gatehouse cannot see.
/// </summary>
internal static class WriteLaundering
{
    public static async ValueTask<string?> CheckAsync(StatementMasks masks, RelationCatalog catalog, string sql, StatementFacts facts, CancellationToken ct)
    {
        var refs = WriteValueReferences.Of(sql, facts);
        if (refs.WritesNoValues)
        {
            return null;
        }

        const string Prefix = "a write in a statement that reads masked columns ";
        if (refs.ArgumentFunction is { } reader)
        {
            return Prefix + $"may not call {reader}(), which reads data its argument names";
        }

        foreach (var function in facts.Functions)
        {
            if (function.Schema is not ("pg_catalog" or "information_schema") && await catalog.HasUserFunctionAsync(function, ct))
            {
                return Prefix + $"may not call {function}, a function whose body Gatehouse cannot see";
            }
        }

        if (refs.RenamesColumns)
        {
            return Prefix + "may not rename a relation's columns (an alias column list such as c(a, b)): name the columns it reads";
        }

        if (refs.Star)
        {
            return Prefix + "may not copy whole rows (* or TABLE): name the columns it writes";
        }

        var masked = new SortedSet<string>(StringComparer.Ordinal);
        var relations = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in facts.ReadRelations.Concat(facts.WrittenRelations))
        {
            foreach (var oid in await catalog.FindAsync(name, ct))
            {
                if (!await masks.Rules.IsSensitiveAsync(catalog, oid, ct) || await catalog.GetAsync(oid, ct) is not { } relation)
                {
                    continue;
                }

                relations.Add(relation.Name);
                foreach (var (attnum, column) in relation.Columns)
                {
                    var (action, _, _) = await masks.TraceAsync(oid, attnum, tainted: true, ct);
                    if (action is ColumnAction.Mask or ColumnAction.Redact)
                    {
                        masked.Add(column);
                    }
                }
            }
        }

        if (masked.FirstOrDefault(c => refs.Names.Contains(c) || refs.Called.Contains(c)) is { } source)
        {
            return Prefix + $"may not write a value computed from the masked column \"{source}\" (it would be stored where the mask does not follow)";
        }

        if (refs.Bare.FirstOrDefault(n => relations.Contains(n) || refs.Aliases.Contains(n)) is { } row)
        {
            return Prefix + $"may not use the whole-row reference \"{row}\" in a write: name the columns it writes";
        }

        return null;
    }
}
