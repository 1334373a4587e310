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

    /// <summary>Analyzes every statement of <paramref name="sql"/>. The whole string is lexed with the
    /// session's standard_conforming_strings, as the server does; PREPARE/DEALLOCATE/DISCARD ALL and
    /// SET/RESET standard_conforming_strings update <paramref name="session"/> as the statements are read,
    /// on the assumption they will run (a caller that refuses them should undo that).</summary>
    public SqlAnalysis Analyze(string sql, SqlSessionState session)
    {
        ArgumentNullException.ThrowIfNull(sql);
        ArgumentNullException.ThrowIfNull(session);
        var tokens = TokenBuffer.Rent();
        var reader = new StatementReader(sql, session.StandardConformingStrings);
        StatementFacts? single = null;
        List<StatementFacts>? many = null;
        bool? scs = null;
        while (reader.Next(tokens))
        {
            var statement = new StatementAnalyzer(sql, tokens.Slice(0, tokens.Count), session, 0);
            var facts = statement.Analyze(out var scsAfter);
            scs = scsAfter ?? scs;
            if (single is null)
                single = facts;
            else
                (many ??= [single]).Add(facts);
        }
        if (scs is { } value)
            session.StandardConformingStrings = value;
        return new SqlAnalysis(many is not null ? many : single is not null ? [single] : None);
    }
}
