using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// Refuses a write, in a statement that reads masked data, whose written values could come from a masked column:
/// into any column of the same table (<c>UPDATE customers SET name = email</c>) or of another one. Reading masked
/// data while writing stays allowed when the statement's values provably do not reference it: no masked column
/// (by name, through any view column traced to one) in a value position, no whole-row reference to a relation or alias
/// (also in attribute notation: <c>c.to_jsonb</c> is <c>to_jsonb(c)</c> when customers has no such column), no <c>*</c>
/// or <c>TABLE</c>, no function whose body or text argument Gatehouse cannot see (also called as <c>o.customer_email</c>).
/// </summary>
internal static class WriteLaundering
{
    public static async ValueTask<string?> CheckAsync(StatementMasks masks, RelationCatalog catalog, string sql, StatementFacts facts, CancellationToken ct)
    {
        var tokens = StatementTokens.Of(sql, facts);
        var refs = WriteValueReferences.Of(tokens, facts);
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

        var names = QualifiedReferences.Of(tokens, facts);
        if (await AttributeNotation.UserFunctionCallAsync(catalog, names, facts, ct) is { } call)
        {
            return Prefix + $"may not call {call.Name} (attribute notation {AttributeNotation.Show(call)}), a function whose body Gatehouse cannot see";
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

        // Fail closed on the reading's doubts: a name it classed as an alias counts as a reference when it names a masked
        // column, and an alias without AS counts as a whole-row reference when it names a relation or is defined twice
        // (a grammar position the reading mistook for an alias, as it once did after OPERATOR(…)).
        if (masked.FirstOrDefault(c => refs.Names.Contains(c) || refs.Called.Contains(c) || refs.Aliases.Contains(c)) is { } source)
        {
            return Prefix + $"may not write a value computed from the masked column \"{source}\" (it would be stored where the mask does not follow)";
        }

        if ((refs.Bare.FirstOrDefault(n => relations.Contains(n) || refs.Aliases.Contains(n))
             ?? refs.BareAliases.FirstOrDefault(n => relations.Contains(n) || refs.RepeatedAliases.Contains(n))) is { } row)
        {
            return Prefix + $"may not use the whole-row reference \"{row}\" in a write: name the columns it writes";
        }

        // c.to_jsonb where customers has no column to_jsonb is to_jsonb(c): the whole row, masked columns and all.
        foreach (var reference in refs.Qualified)
        {
            if (await WholeRowAsync(masks, catalog, reference, names, facts, ct) is { } relation)
            {
                return Prefix + $"may not use the whole row of \"{reference.Qualifier}\" in a write: {relation} has no column \"{reference.Name}\", "
                    + $"so PostgreSQL reads {AttributeNotation.Show(reference)} as {reference.Name}({reference.Qualifier}); name the columns it writes";
            }
        }

        return null;
    }

    /// <summary>A sensitive relation <paramref name="reference"/>'s qualifier may stand for that has no column of its name
    /// (or whose columns the catalog does not give), or null.</summary>
    private static async ValueTask<string?> WholeRowAsync(
        StatementMasks masks, RelationCatalog catalog, QualifiedReference reference, QualifiedReferences names, StatementFacts facts, CancellationToken ct)
    {
        if (reference.Qualifier is not { } qualifier)
        {
            return null; // (expr).name: the expression is read like any other value
        }

        if (qualifier.Schema is null && facts.ReadRelations.Concat(facts.WrittenRelations).Contains(new QualifiedName(qualifier.Name, reference.Name)))
        {
            return null; // a schema-qualified relation name (FROM orders o, public.customers c)
        }

        foreach (var name in AttributeNotation.Candidates(qualifier, names, facts).Relations)
        {
            foreach (var oid in await catalog.FindAsync(name, ct))
            {
                if (!await masks.Rules.IsSensitiveAsync(catalog, oid, ct))
                {
                    continue;
                }

                if (await catalog.GetAsync(oid, ct) is not { } relation)
                {
                    return name.ToString();
                }

                if (!relation.Columns.Values.Contains(reference.Name))
                {
                    return relation.Schema + "." + relation.Name;
                }
            }
        }

        return null;
    }
}
