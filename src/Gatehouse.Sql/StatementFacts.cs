namespace Gatehouse.Sql;

/// <summary>Statement classes of SPEC §3; policy rules match on these.</summary>
public enum StatementClass
{
    Read,
    Write,
    Ddl,
    Dcl,
    Admin,
    Code,
    CopyOut,
    Transaction,
    Session,
    Unknown,
}

/// <summary>A relation or function name, folded and unquoted exactly as PostgreSQL would (schema null when not written).</summary>
public readonly record struct QualifiedName(string? Schema, string Name)
{
    public override string ToString() => Schema is null ? Name : Schema + "." + Name;
}

/// <summary>What the analyzer knows about one statement of a query string.</summary>
public sealed record StatementFacts
{
    /// <summary>Offset of the statement's first character in the analyzed text (leading whitespace/comments excluded).</summary>
    public required int Start { get; init; }

    /// <summary>Length of the statement text, excluding the terminating semicolon.</summary>
    public required int Length { get; init; }

    /// <summary>Upper-case command tag family, e.g. "SELECT", "INSERT", "CREATE TABLE", "EXPLAIN"; "" when unknown.</summary>
    public required string Command { get; init; }

    public required StatementClass Class { get; init; }

    private readonly IReadOnlyList<string>? _commands;

    /// <summary>Every command the statement runs: <see cref="Command"/> first, then, once each, the tag of every
    /// data-modifying or wrapped statement the server runs as part of it: a data-modifying CTE's INSERT/UPDATE/
    /// DELETE/MERGE, MERGE's actions (UPDATE, INSERT, DELETE), INSERT … ON CONFLICT DO UPDATE's UPDATE, the
    /// statement EXPLAIN ANALYZE, PREPARE, EXECUTE, COPY (…), CREATE TABLE AS or DECLARE runs (with what it runs in
    /// turn), and CREATE TABLE AS for SELECT … INTO. A nested plain query (SELECT) is not listed: it is part of its
    /// statement, not a command of its own. Policy <c>commands</c> rules match on these. When not set, just
    /// <see cref="Command"/>.</summary>
    public IReadOnlyList<string> Commands
    {
        get => _commands ?? [Command];
        init => _commands = value;
    }

    public IReadOnlyList<QualifiedName> ReadRelations { get; init; } = [];

    public IReadOnlyList<QualifiedName> WrittenRelations { get; init; } = [];

    public IReadOnlyList<QualifiedName> Functions { get; init; } = [];

    /// <summary>Names written where PostgreSQL may read a call in attribute notation (<c>(expr).name</c>, <c>q.name</c>,
    /// <c>t.c.name</c>): columns and fields, or one-argument calls (<see cref="AttributeCalls"/>). Those that change
    /// the verdict are in <see cref="Functions"/> as well.</summary>
    public IReadOnlyList<QualifiedName> AttributeCalls { get; init; } = [];

    /// <summary>SELECT … FOR UPDATE/SHARE/NO KEY UPDATE/KEY SHARE.</summary>
    public bool IsLockingRead { get; init; }

    /// <summary>The statement also reads relations it does not name (schema_to_xml, database_to_xml…): table
    /// rules must assume it reads any table.</summary>
    public bool ReadsUnlistedRelations { get; init; }

    /// <summary>The statement also changes relations it does not name (TRUNCATE … CASCADE, DROP … CASCADE): table
    /// rules must assume it writes any table.</summary>
    public bool WritesUnlistedRelations { get; init; }

    /// <summary>Run-time parameters the statement changes, in order.</summary>
    public IReadOnlyList<SettingChange> Settings { get; init; } = [];

    /// <summary>What the statement changes in the session's prepared statements and cursors once it runs.</summary>
    public IReadOnlyList<SessionEffect> Effects { get; init; } = [];

    /// <summary>Why the statement is <see cref="StatementClass.Unknown"/>; null otherwise.</summary>
    public string? UnknownReason { get; init; }

    /// <summary>Of a prepared statement (SQL PREPARE's inner statement, a protocol Parse): its own text; null otherwise.</summary>
    public string? PreparedText { get; init; }

    /// <summary>The line that follows a prepared statement's text when its parameter types were declared.</summary>
    public static string DeclaredTypesNote(string types) => types.Length == 0 ? "" : "\n-- with parameter types " + types;

    /// <summary>Of an EXECUTE: the text of the prepared statement it runs (its name alone does not say what runs).</summary>
    public string? Runs { get; init; }

    /// <summary>Of an EXECUTE: the name of the prepared statement it runs.</summary>
    public string? Executes { get; init; }
}
