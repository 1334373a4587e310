using Gatehouse.Protocol;

namespace Gatehouse.Pipeline.Masking;

/// <summary>What happens to one result column's values.</summary>
public enum ColumnAction : byte
{
    /// <summary>Forwarded byte for byte.</summary>
    Pass,
    /// <summary>A column rule names the column (or the column it comes from): its strategy applies.</summary>
    Mask,
    /// <summary>Cannot be traced to an unmasked source in a statement that reads masked data: fully redacted.</summary>
    Redact,
    /// <summary>Not masked by a column rule; the grant's content detectors scan its text.</summary>
    Scan,
}

/// <summary>One column's treatment: action, the policy's <c>with</c>, the rule that chose it, and the wire format.</summary>
public readonly record struct ColumnMask(ColumnAction Action, string? With, string? Rule, uint TypeOid, short Format);

/// <summary>The treatment of every column of one result set. <see cref="IsPassThrough"/>: rows need no rewriting.</summary>
public sealed class ColumnPlan(ColumnMask[] columns, MaskRules rules)
{
    public IReadOnlyList<ColumnMask> Columns { get; } = columns;

    /// <summary>The grant's masks the plan came from (its detectors scan <see cref="ColumnAction.Scan"/> columns).</summary>
    public MaskRules Rules { get; } = rules;

    public bool IsPassThrough { get; } = columns.All(c => c.Action == ColumnAction.Pass);

    /// <summary>Under <c>strict_masking: deny</c>, why the result is refused (it names the first untraceable column); else null.</summary>
    public string? Denied { get; init; }

    /// <summary>The same plan with the formats a Bind chose (extended protocol: Execute sends no RowDescription).</summary>
    public ColumnPlan WithFormats(short[]? formats) => new(
        columns.Select((c, i) => c with { Format = ResultMessages.FormatOf(formats, i) }).ToArray(), Rules) { Denied = Denied };

    /// <summary>Which columns were masked and by which rule, for the statement's outcome and audit.</summary>
    public IEnumerable<string> Describe(IReadOnlyList<ResultColumn> names) => columns
        .Select((c, i) => (c, name: i < names.Count ? names[i].Name : "?"))
        .Where(x => x.c.Action is ColumnAction.Mask or ColumnAction.Redact)
        .Select(x => x.c.Action == ColumnAction.Mask ? $"{x.name}: {x.c.With} ({x.c.Rule})" : $"{x.name}: redacted (untraceable)");
}
