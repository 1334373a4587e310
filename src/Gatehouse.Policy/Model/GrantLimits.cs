namespace Gatehouse.Policy.Model;

/// <summary>
/// A grant's <c>limits</c>: resource limits Gatehouse enforces itself, so an agent cannot lift them with SET.
/// Null: no limit.
/// </summary>
public sealed record GrantLimits
{
    public static GrantLimits None { get; } = new();

    /// <summary>A statement running longer is cancelled upstream; the client gets 57014.</summary>
    public TimeSpan? StatementTimeout { get; init; }

    /// <summary>A transaction open longer ends the session (FATAL 25P04).</summary>
    public TimeSpan? TransactionTimeout { get; init; }

    /// <summary>A transaction left idle longer ends the session (FATAL 25P03).</summary>
    public TimeSpan? IdleInTransactionTimeout { get; init; }

    /// <summary>Concurrent sessions per identity subject, target and grant; one more is refused at login (53300).</summary>
    public int? MaxConnections { get; init; }

    public bool IsNone => StatementTimeout is null && TransactionTimeout is null && IdleInTransactionTimeout is null && MaxConnections is null;
}
