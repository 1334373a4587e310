namespace Gatehouse.Policy.Model;

/// <summary>
/// One entry of a grant's <c>masks</c>: either column patterns (<c>column</c>, <c>table.column</c> or
/// <c>schema.table.column</c>) or content detectors, and the masking function to apply.
/// </summary>
public sealed class MaskSpec
{
    /// <summary>Masking functions the policy language knows.</summary>
    public static readonly IReadOnlySet<string> KnownFunctions =
        new HashSet<string>(StringComparer.Ordinal) { "email", "last4", "hash", "redact", "null" };

    /// <summary>Content detectors the policy language knows.</summary>
    public static readonly IReadOnlySet<string> KnownDetectors =
        new HashSet<string>(StringComparer.Ordinal) { "email", "credit_card", "ssn", "phone", "iban", "secret" };

    /// <summary>Column patterns as written; empty for a detector mask.</summary>
    public required IReadOnlyList<string> Columns { get; init; }

    /// <summary>Detector names; empty for a column mask.</summary>
    public required IReadOnlyList<string> Detect { get; init; }

    public required string With { get; init; }

    public required int Line { get; init; }

    public override string ToString() => Columns.Count > 0
        ? $"columns [{string.Join(", ", Columns)}] with {With}"
        : $"detect [{string.Join(", ", Detect)}] with {With}";
}
