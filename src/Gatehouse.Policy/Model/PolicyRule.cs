using Gatehouse.Sql;

namespace Gatehouse.Policy.Model;

public enum PolicyVerdict
{
    Allow,
    Deny,
    Review,
}

/// <summary>One entry of a grant's <c>rules</c>: when its condition holds, <see cref="Then"/> is the verdict.</summary>
public sealed class PolicyRule
{
    public required string Id { get; init; }

    public required RuleCondition When { get; init; }

    public required PolicyVerdict Then { get; init; }

    public required int Line { get; init; }

    public required int Column { get; init; }
}

/// <summary>
/// The <c>when</c> of a rule. Present conditions are ANDed; the entries of one list are ORed.
/// A null list means the condition is absent.
/// </summary>
public sealed class RuleCondition
{
    public IReadOnlySet<StatementClass>? Classes { get; init; }

    public IReadOnlyList<NamePattern>? Tables { get; init; }

    public IReadOnlyList<Glob>? Schemas { get; init; }

    public IReadOnlyList<NamePattern>? Functions { get; init; }

    public IReadOnlyList<Glob>? Commands { get; init; }

    private int _modifyingOnly = -1;

    /// <summary>The class condition lists only modifying classes (write, ddl): table conditions then look at written tables.</summary>
    internal bool ClassesAreModifyingOnly
    {
        get
        {
            if (_modifyingOnly < 0)
            {
                _modifyingOnly = Classes is { Count: > 0 } classes && classes.All(c => c is StatementClass.Write or StatementClass.Ddl) ? 1 : 0;
            }

            return _modifyingOnly == 1;
        }
    }

    /// <summary>No condition at all: the rule matches every statement.</summary>
    public bool IsUnconditional => Classes is null && Tables is null && Schemas is null && Functions is null && Commands is null;
}
