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
        var reader = new StatementReader(sql, standardConformingStrings);
        List<SqlStatementSpan>? result = null;
        while (reader.Next(tokens))
        {
            var start = tokens[0].Start;
            (result ??= []).Add(new SqlStatementSpan(start, tokens[tokens.Count - 1].End - start));
        }
        return result is null ? [] : result;
    }
}

/// <summary>Reads one statement's tokens at a time (terminating ';' excluded), so memory is bounded by
/// the longest statement rather than the whole script.</summary>
internal ref struct StatementReader
{
    private SqlLexer _lexer;

    public StatementReader(ReadOnlySpan<char> text, bool standardConformingStrings) =>
        _lexer = new SqlLexer(text, standardConformingStrings);

    /// <summary>Fills <paramref name="tokens"/> with the next non-empty statement; false at the end of the text.</summary>
    public bool Next(TokenBuffer tokens)
    {
        tokens.Clear();
        var parens = 0;
        var atomic = 0;
        var routine = false;
        while (_lexer.Next(out var t))
        {
            var inStatement = tokens.Count;
            switch (t.Kind)
            {
                case TokenKind.Semicolon when parens == 0 && atomic == 0:
                    if (inStatement > 0)
                        return true;
                    continue;
                case TokenKind.LParen:
                    parens++;
                    break;
                case TokenKind.RParen:
                    if (parens > 0)
                        parens--;
                    break;
                case TokenKind.Word:
                    if (inStatement > 0 && inStatement <= 3 && t.Keyword is Kw.Function or Kw.Procedure && tokens[0].Is(Kw.Create))
                        routine = true;
                    else if (routine && atomic == 0 && t.Is(Kw.Atomic) && tokens[inStatement - 1].Is(Kw.Begin))
                        atomic = 1;
                    else if (atomic > 0 && t.Keyword is Kw.Case or Kw.End
                             && tokens[inStatement - 1].Kind != TokenKind.Dot && !tokens[inStatement - 1].Is(Kw.As))
                        atomic += t.Is(Kw.Case) ? 1 : -1;   // "AS end", "x.case" are labels, not CASE … END
                    break;
            }
            tokens.Add(t);
        }
        return tokens.Count > 0;
    }
}

/// <summary>A growable token array reused per thread and nesting depth (SQL given as text to query_to_xml() is
/// read while the statement around it is still being analyzed), so analysis does not allocate per token.</summary>
internal sealed class TokenBuffer
{
    [ThreadStatic]
    private static TokenBuffer?[]? s_cached;

    private SqlToken[] _items = new SqlToken[256];

    public int Count { get; private set; }

    public ref readonly SqlToken this[int index] => ref _items[index];

    public static TokenBuffer Rent(int depth = 0)
    {
        var pool = s_cached ??= new TokenBuffer?[8];
        var b = pool[depth] ??= new TokenBuffer();
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
