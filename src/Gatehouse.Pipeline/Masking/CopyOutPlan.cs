using Gatehouse.Sql;

namespace Gatehouse.Pipeline.Masking;

/// <summary>
/// How to rewrite one <c>COPY table [(columns)] TO STDOUT</c> stream: its shape (format, delimiters) and a column
/// plan for the table's columns in copy order, traced through the catalog as a RowDescription's would be. CopyOutResponse
/// carries no table OIDs, so the columns come from the statement text and the catalog; a <c>COPY (query)</c> has no
/// such source and is refused when it must be masked.
/// </summary>
public sealed record CopyOutPlan(CopyOutShape Shape, ColumnPlan Columns)
{
    /// <summary>The plan for statement <paramref name="facts"/> of <paramref name="sql"/>, or why it cannot be masked.</summary>
    public static async ValueTask<(CopyOutPlan? Plan, string? Problem)> ForAsync(
        StatementMasks masks, RelationCatalog catalog, string sql, StatementFacts facts, bool tainted, CancellationToken ct)
    {
        var shape = CopyOutShape.Parse(sql, facts);
        string why = tainted ? masks.TaintReason ?? "it reads masked data" : "content detectors are on";
        if (shape is null)
        {
            return (null, "a COPY statement Gatehouse cannot read");
        }

        if (shape.IsQuery)
        {
            // The server does not describe a COPY (query)'s columns, and describing the query on another connection
            // could resolve names differently (search_path, temporary tables): not traced.
            return (null, $"COPY (query) TO STDOUT of data Gatehouse must mask is not supported ({why}): the server does not say where its columns come from; use COPY table TO STDOUT or SELECT");
        }

        if (shape.Problem is { } problem)
        {
            return (null, $"COPY … TO STDOUT with {problem} is not supported while masking ({why})");
        }

        var oids = await catalog.FindAsync(shape.Table!.Value, ct);
        if (oids.Count != 1 || await catalog.GetAsync(oids[0], ct) is not { } relation)
        {
            return (null, oids.Count == 0
                ? $"COPY of {shape.Table}: no such relation in the catalog"
                : $"COPY of {shape.Table}: the name is in several schemas; qualify it");
        }

        var attnums = new List<short>();
        if (shape.Columns is null)
        {
            // COPY table TO leaves generated columns out.
            attnums.AddRange(relation.Columns.Where(c => !relation.Generated.ContainsKey(c.Value)).Select(c => c.Key).Order());
        }
        else
        {
            foreach (var name in shape.Columns)
            {
                var match = relation.Columns.Where(c => c.Value == name).Select(c => c.Key).ToList();
                if (match.Count != 1)
                {
                    return (null, $"COPY of {shape.Table}: no column \"{name}\"");
                }

                attnums.Add(match[0]);
            }
        }

        var plan = new ColumnMask[attnums.Count];
        short format = shape.Format == CopyFormat.Binary ? (short)1 : (short)0;
        for (int i = 0; i < attnums.Count; i++)
        {
            var (action, with, rule) = await masks.TraceAsync(relation.Oid, attnums[i], tainted, ct);
            if (action == ColumnAction.Pass && masks.Rules.Detectors.Count > 0)
            {
                action = ColumnAction.Scan;
            }

            plan[i] = new ColumnMask(action, with, rule, relation.Types.GetValueOrDefault(attnums[i]), format);
        }

        return (new CopyOutPlan(shape, new ColumnPlan(plan, masks.Rules)), null);
    }
}
