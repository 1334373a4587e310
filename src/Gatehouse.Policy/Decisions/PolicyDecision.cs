using Gatehouse.Policy.Model;

namespace Gatehouse.Policy;

/// <summary>The verdict for a statement (or a batch) and why.</summary>
public sealed record PolicyDecision
{
    /// <summary>Rule id reported for the built-in deny of statements the analyzer did not understand.</summary>
    public const string UnknownSqlRuleId = "unknown-sql";

    public required PolicyVerdict Verdict { get; init; }

    /// <summary>The rule that decided; null when no rule matched (default allow).</summary>
    public string? RuleId { get; init; }

    /// <summary>Human-readable, e.g. "rule no-ddl matched class ddl".</summary>
    public required string Reason { get; init; }

    /// <summary>For batch decisions: the 0-based index of the statement that decided; null for a single statement or an allowed batch.</summary>
    public int? StatementIndex { get; init; }

    public bool IsAllowed => Verdict == PolicyVerdict.Allow;

    internal static readonly PolicyDecision DefaultAllow = new()
    {
        Verdict = PolicyVerdict.Allow,
        Reason = "no rule matched; allowed within db_roles",
    };

    public override string ToString() => RuleId is null
        ? $"{Verdict.ToString().ToLowerInvariant()}: {Reason}"
        : $"{Verdict.ToString().ToLowerInvariant()} by rule {RuleId}: {Reason}";
}
