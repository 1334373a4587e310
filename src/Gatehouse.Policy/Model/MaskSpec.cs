namespace Gatehouse.Policy.Model;

/// <summary>
/// One entry of a grant's <c>masks</c>: either column patterns (<c>column</c>, <c>table.column</c> or
/// <c>schema.table.column</c>) or content detectors, and the masking function to apply.
/// </summary>
public sealed class MaskSpec
{
    /// <summary>Masking functions the policy language knows.</summary>
    public static readonly IReadOnlyList<string> KnownFunctions = ["email", "last4", "hash", "redact", "null", "fake", "partial(first,last)"];

    /// <summary>True for a known masking function; <c>partial(first,last)</c> keeps 0–64 characters at each end.</summary>
    public static bool IsKnownFunction(string with)
    {
        if (with is "email" or "last4" or "hash" or "redact" or "null" or "fake")
        {
            return true;
        }

        if (!with.StartsWith("partial(", StringComparison.Ordinal) || !with.EndsWith(')'))
        {
            return false;
        }

        var parts = with["partial(".Length..^1].Split(',');
        return parts.Length == 2 && parts.All(p => int.TryParse(p.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n <= 64);
    }

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
