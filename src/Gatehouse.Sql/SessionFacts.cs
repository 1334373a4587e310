namespace Gatehouse.Sql;

/// <summary>How a statement sets a run-time parameter.</summary>
public enum SettingValueKind
{
    /// <summary><see cref="SettingChange.Value"/> holds the value string the server receives.</summary>
    Literal,
    /// <summary>RESET, SET … TO DEFAULT, RESET ALL: back to the session default.</summary>
    Default,
    /// <summary>SET … FROM CURRENT.</summary>
    FromCurrent,
    /// <summary>The value is an expression or a bound parameter (set_config(name, $1, …)): not known before it runs.</summary>
    NotLiteral,
}

/// <summary>
/// A run-time parameter a statement changes (SET, RESET, SET NAMES/SCHEMA/TIME ZONE, set_config() with a literal name).
/// </summary>
public sealed record SettingChange
{
    /// <summary>The parameter name as the server looks it up: identifier rules applied (quotes, U&amp;"…"), then
    /// ASCII lower-cased, since parameter names are case-insensitive. "all" for RESET ALL.</summary>
    public required string Name { get; init; }

    /// <summary>The value string the server receives: SET arguments flattened as the server flattens them
    /// (list parameters such as search_path quote each element that is not a plain identifier); the literal
    /// text of set_config()'s second argument. Null unless <see cref="Kind"/> is <see cref="SettingValueKind.Literal"/>.</summary>
    public string? Value { get; init; }

    public SettingValueKind Kind { get; init; } = SettingValueKind.Literal;

    /// <summary>SET LOCAL, or set_config(…, true): lasts until the end of the transaction.</summary>
    public bool IsLocal { get; init; }
}

/// <summary>
/// A change to what the session remembers (prepared statements, cursors) that a statement makes when the server
/// runs it. The analyzer reports effects and never applies them: the caller applies them
/// (<see cref="SqlSessionState.Apply(StatementFacts)"/>) once it knows the statement ran, so refused or failed
/// statements leave the session as it was.
/// </summary>
public abstract record SessionEffect
{
    private SessionEffect()
    {
    }

    /// <summary>SQL PREPARE (a protocol-level named Parse is registered by the caller directly).</summary>
    public sealed record Prepare(string Name, StatementFacts Facts) : SessionEffect;

    /// <summary>DEALLOCATE name; null: DEALLOCATE ALL or DISCARD ALL.</summary>
    public sealed record Deallocate(string? Name) : SessionEffect;

    /// <summary>DECLARE name CURSOR FOR query: FETCH and MOVE read what the query reads.</summary>
    public sealed record DeclareCursor(string Name, StatementFacts Facts) : SessionEffect;

    /// <summary>CLOSE name; null: CLOSE ALL or DISCARD ALL.</summary>
    public sealed record CloseCursor(string? Name) : SessionEffect;
}
