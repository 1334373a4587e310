namespace Gatehouse.Sql;

/// <summary>One statement's text (its span of the query string) and its tokens, lexed once for every reading that
/// walks them (<see cref="WriteValueReferences"/>, <see cref="QualifiedReferences"/>).</summary>
public sealed class StatementTokens
{
    private StatementTokens(string text, List<SqlToken> tokens) => (Text, Tokens) = (text, tokens);

    internal string Text { get; }

    internal List<SqlToken> Tokens { get; }

    public static StatementTokens Of(string sql, StatementFacts facts)
    {
        var text = sql.Substring(facts.Start, facts.Length);
        var tokens = new List<SqlToken>();
        var lexer = new SqlLexer(text, standardConformingStrings: true);
        while (lexer.Next(out var token))
        {
            tokens.Add(token);
        }

        return new StatementTokens(text, tokens);
    }
}
