namespace Gatehouse.Policy.Model;

/// <summary>What an identity may do on some targets: database roles, ordered rules, masks.</summary>
public sealed class Grant
{
    public required string To { get; init; }

    public required IReadOnlyList<string> Targets { get; init; }

    public required IReadOnlyList<string> DbRoles { get; init; }

    /// <summary>In file order; the first matching rule decides.</summary>
    public required IReadOnlyList<PolicyRule> Rules { get; init; }

    public required IReadOnlyList<MaskSpec> Masks { get; init; }

    public GrantLimits Limits { get; init; } = GrantLimits.None;

    /// <summary><c>audit</c>: whether result rows are recorded, and their bounds (off by default).</summary>
    public GrantAudit Audit { get; init; } = GrantAudit.None;

    /// <summary><c>strict_masking: deny</c>: a result column of a statement that reads masked data and cannot be traced
    /// to an unmasked source refuses the result instead of being redacted (the default, <c>redact</c>).</summary>
    public bool StrictMaskingDeny { get; init; }

    /// <summary>Position of the grant in the file's <c>grants</c> list (0-based).</summary>
    public required int Index { get; init; }

    public required int Line { get; init; }

    public bool HasTarget(string target)
    {
        foreach (var t in Targets)
        {
            if (string.Equals(t, target, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
