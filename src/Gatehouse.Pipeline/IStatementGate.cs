namespace Gatehouse.Pipeline;

/// <summary>What the gate says about a statement: forward it, or refuse it with an error the client sees.</summary>
public readonly record struct GateVerdict(bool Forward, string SqlState, string Message)
{
    public static GateVerdict Allow => new(true, string.Empty, string.Empty);

    public static GateVerdict Refuse(string sqlState, string message) => new(false, sqlState, message);
}

/// <summary>
/// The per-session hook the statement pipeline implements: every SQL text a client sends passes here
/// before it reaches the server. Implementations may await (a review held for approval).
/// </summary>
public interface IStatementGate
{
    /// <summary>A simple-protocol Query message (possibly several statements).</summary>
    ValueTask<GateVerdict> OnQueryAsync(string sql, CancellationToken ct);

    /// <summary>An extended-protocol Parse message.</summary>
    ValueTask<GateVerdict> OnParseAsync(string statementName, string sql, CancellationToken ct);

    /// <summary>The server reported the session's transaction state (ReadyForQuery: 'I', 'T' or 'E').</summary>
    void OnReadyForQuery(char transactionStatus);

    /// <summary>The server reported a setting (ParameterStatus), e.g. standard_conforming_strings.</summary>
    void OnParameterStatus(string name, string value);
}
