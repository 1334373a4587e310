namespace Gatehouse.Sql;

/// <summary>Where one statement sits in a query string: leading trivia and the terminating ';' excluded.</summary>
public readonly record struct SqlStatementSpan(int Start, int Length);

/// <summary>
/// Splits a query string into statements the way the server's grammar does: at top-level ';' tokens,
/// not inside literals, quoted identifiers, comments, parentheses (CREATE RULE … DO (a; b)) or a
/// BEGIN ATOMIC … END routine body. Empty statements are dropped.
/// </summary>
public static class SqlSplitter
{
    public static IReadOnlyList<SqlStatementSpan> Split(string sql, bool standardConformingStrings = true)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var tokens = TokenBuffer.Rent();
        var ranges = new List<(int First, int Count)>();
        Tokenize(sql, standardConformingStrings, tokens, ranges);
        var result = new SqlStatementSpan[ranges.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var (first, count) = ranges[i];
            var start = tokens[first].Start;
            result[i] = new SqlStatementSpan(start, tokens[first + count - 1].End - start);
        }
        return result;
    }

    /// <summary>Lexes the whole text into <paramref name="tokens"/> (semicolons that end statements excluded)
    /// and records each statement's token range.</summary>
    internal static void Tokenize(ReadOnlySpan<char> text, bool scs, TokenBuffer tokens, List<(int First, int Count)> statements)
    {
        tokens.Clear();
        var lexer = new SqlLexer(text, scs);
        var first = 0;
        var parens = 0;
        var atomic = 0;
        var routine = false;
        while (lexer.Next(out var t))
        {
            var inStatement = tokens.Count - first;
            switch (t.Kind)
            {
                case TokenKind.Semicolon when parens == 0 && atomic == 0:
                    if (inStatement > 0)
                        statements.Add((first, inStatement));
                    first = tokens.Count;
                    routine = false;
                    continue;
                case TokenKind.LParen:
                    parens++;
                    break;
                case TokenKind.RParen:
                    if (parens > 0)
                        parens--;
                    break;
                case TokenKind.Word:
                    if (inStatement == 0)
                        routine = false;
                    else if (inStatement <= 3 && t.Keyword is Kw.Function or Kw.Procedure && tokens[first].Is(Kw.Create))
                        routine = true;
                    else if (routine && atomic == 0 && t.Is(Kw.Atomic) && tokens[tokens.Count - 1].Is(Kw.Begin))
                        atomic = 1;
                    else if (atomic > 0 && t.Is(Kw.Case))
                        atomic++;
                    else if (atomic > 0 && t.Is(Kw.End))
                        atomic--;
                    break;
            }
            tokens.Add(t);
        }
        if (tokens.Count > first)
            statements.Add((first, tokens.Count - first));
    }
}

/// <summary>A growable token array reused per thread, so analysis does not allocate per token.</summary>
internal sealed class TokenBuffer
{
    [ThreadStatic]
    private static TokenBuffer? s_cached;

    private SqlToken[] _items = new SqlToken[256];

    public int Count { get; private set; }

    public ref readonly SqlToken this[int index] => ref _items[index];

    public static TokenBuffer Rent()
    {
        var b = s_cached ??= new TokenBuffer();
        b.Clear();
        return b;
    }

    public void Clear()
    {
        Count = 0;
        if (_items.Length > 1 << 16)
            _items = new SqlToken[256];
    }

    public void Add(in SqlToken t)
    {
        if (Count == _items.Length)
            Array.Resize(ref _items, _items.Length * 2);
        _items[Count++] = t;
    }

    public ReadOnlySpan<SqlToken> Slice(int first, int count) => _items.AsSpan(first, count);
}
