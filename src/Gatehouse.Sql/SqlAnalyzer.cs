namespace Gatehouse.Sql;

/// <summary>Analyzes PostgreSQL query strings. Implementations must fail closed: what they cannot
/// analyze with certainty is <see cref="StatementClass.Unknown"/>. A libpg_query-backed analyzer can
/// replace <see cref="SqlAnalyzer"/> behind this interface.</summary>
public interface ISqlAnalyzer
{
    SqlAnalysis Analyze(string sql, SqlSessionState session);
}

/// <summary>The facts of every statement of one query string, in order; empty for an empty query.</summary>
public sealed class SqlAnalysis
{
    internal SqlAnalysis(IReadOnlyList<StatementFacts> statements) => Statements = statements;

    public IReadOnlyList<StatementFacts> Statements { get; }
}

/// <summary>The built-in analyzer: a hand-written lexer, splitter and token walker for PostgreSQL's dialect.</summary>
public sealed class SqlAnalyzer : ISqlAnalyzer
{
    private static readonly IReadOnlyList<StatementFacts> None = [];

    private SqlAnalyzer()
    {
    }

    public static SqlAnalyzer Instance { get; } = new();

    /// <summary>Analyzes every statement of <paramref name="sql"/>. The text is read under both settings of
    /// standard_conforming_strings when it holds a backslash: where the two readings are different statements,
    /// every statement is unknown. <paramref name="session"/> is only read: what a statement changes in it
    /// (PREPARE, DEALLOCATE, DECLARE, CLOSE, DISCARD ALL) is reported in <see cref="StatementFacts.Effects"/>,
    /// which later statements of the same string already see, and which the caller applies with
    /// <see cref="SqlSessionState.Apply(StatementFacts)"/> once a statement ran.</summary>
    public SqlAnalysis Analyze(string sql, SqlSessionState session)
    {
        ArgumentNullException.ThrowIfNull(sql);
        ArgumentNullException.ThrowIfNull(session);
        var mode = Lexing.Choose(sql, out var conflict);
        var tokens = TokenBuffer.Rent();
        var reader = new StatementReader(sql, mode != StringMode.Escape);
        StatementFacts? single = null;
        List<StatementFacts>? many = null;
        SessionOverlay? overlay = null;
        while (reader.Next(tokens))
        {
            var statement = tokens.Slice(0, tokens.Count);
            var facts = conflict ? Conflict(statement)
                : new StatementAnalyzer(sql, statement, session, overlay, mode, 0).Analyze();
            if (facts.Effects.Count > 0)
                (overlay ??= new SessionOverlay()).Apply(facts.Effects);
            if (single is null)
                single = facts;
            else
                (many ??= [single]).Add(facts);
        }
        tokens.Release();
        return new SqlAnalysis(many is not null ? many : single is not null ? [single] : None);
    }

    /// <summary>SQL given as text to a function (query_to_xml('select …')): read at <paramref name="depth"/> with
    /// the same rules as a query string, since the server lexes it with the session's settings when it runs.</summary>
    internal static List<StatementFacts> AnalyzeNested(string sql, SqlSessionState session, SessionOverlay? overlay, int depth)
    {
        var result = new List<StatementFacts>();
        var mode = Lexing.Choose(sql, out var conflict);
        var tokens = TokenBuffer.Rent(depth);
        var reader = new StatementReader(sql, mode != StringMode.Escape);
        while (reader.Next(tokens))
        {
            var statement = tokens.Slice(0, tokens.Count);
            result.Add(conflict ? Conflict(statement) : new StatementAnalyzer(sql, statement, session, overlay, mode, depth).Analyze());
        }
        tokens.Release();
        return result;
    }

    private static StatementFacts Conflict(ReadOnlySpan<SqlToken> statement) => new()
    {
        Start = statement[0].Start,
        Length = statement[^1].End - statement[0].Start,
        Command = "",
        Class = StatementClass.Unknown,
        Commands = Scratch.Single(""),
        UnknownReason = Lexing.ConflictReason,
    };
}
