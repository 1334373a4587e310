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
        tokens.Release();
        return result is null ? [] : result;
    }
}

/// <summary>Reads one statement's tokens at a time (terminating ';' excluded), so memory is bounded by
/// the longest statement rather than the whole script. A statement too long for the reused buffer is counted first
/// (a second lexing pass, no allocation) and its tokens stored in one array of exactly that size.</summary>
internal ref struct StatementReader
{
    private SqlLexer _lexer;

    public StatementReader(ReadOnlySpan<char> text, bool standardConformingStrings) =>
        _lexer = new SqlLexer(text, standardConformingStrings);

    /// <summary>Fills <paramref name="tokens"/> with the next non-empty statement; false at the end of the text.</summary>
    public bool Next(TokenBuffer tokens)
    {
        tokens.Clear();
        var boundary = default(Boundary);
        while (_lexer.Next(out var t))
        {
            switch (boundary.Next(t))
            {
                case Step.End:
                    return true;
                case Step.Skip:
                    continue;
            }
            if (tokens.Count == tokens.Capacity && tokens.Count >= TokenBuffer.KeptCapacity)
                tokens.Reserve(tokens.Count + 1 + Remaining(boundary));
            tokens.Add(t);
        }
        return tokens.Count > 0;
    }

    /// <summary>How many more tokens the current statement has after the one just read.</summary>
    private readonly int Remaining(Boundary boundary)
    {
        var probe = _lexer;
        var n = 0;
        while (probe.Next(out var t) && boundary.Next(t) == Step.Add)
            n++;
        return n;
    }

    private enum Step : byte { Add, Skip, End }

    /// <summary>Where a statement ends: a top-level ';' outside parentheses and BEGIN ATOMIC … END routine bodies.</summary>
    private struct Boundary
    {
        private int _count, _parens, _atomic;
        private bool _routine, _create;
        private SqlToken _previous;

        public Step Next(in SqlToken t)
        {
            switch (t.Kind)
            {
                case TokenKind.Semicolon when _parens == 0 && _atomic == 0:
                    return _count > 0 ? Step.End : Step.Skip;
                case TokenKind.LParen:
                    _parens++;
                    break;
                case TokenKind.RParen:
                    if (_parens > 0)
                        _parens--;
                    break;
                case TokenKind.Word:
                    if (_count > 0 && _count <= 3 && t.Keyword is Kw.Function or Kw.Procedure && _create)
                        _routine = true;
                    else if (_routine && _atomic == 0 && t.Is(Kw.Atomic) && _previous.Is(Kw.Begin))
                        _atomic = 1;
                    else if (_atomic > 0 && t.Keyword is Kw.Case or Kw.End
                             && _previous.Kind != TokenKind.Dot && !_previous.Is(Kw.As))
                        _atomic += t.Is(Kw.Case) ? 1 : -1;   // "AS end", "x.case" are labels, not CASE … END
                    break;
            }
            if (_count++ == 0)
                _create = t.Is(Kw.Create);
            _previous = t;
            return Step.Add;
        }
    }
}

/// <summary>A growable token array reused per thread and nesting depth (SQL given as text to query_to_xml() is
/// read while the statement around it is still being analyzed), so analysis does not allocate per token. An array
/// larger than <see cref="KeptCapacity"/> is used for one statement only and dropped by <see cref="Release"/>.</summary>
internal sealed class TokenBuffer
{
    /// <summary>Tokens a buffer keeps room for between statements (768 KiB of tokens).</summary>
    public const int KeptCapacity = 1 << 16;

    [ThreadStatic]
    private static TokenBuffer?[]? s_cached;

    private SqlToken[] _items = new SqlToken[256];

    public int Count { get; private set; }

    public int Capacity => _items.Length;

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
        Release();
    }

    /// <summary>Drops an array sized for one long statement, so its memory goes back once analysis is done.</summary>
    public void Release()
    {
        if (_items.Length > KeptCapacity)
        {
            _items = new SqlToken[256];
            Count = 0;
        }
    }

    /// <summary>Makes room for exactly <paramref name="capacity"/> tokens.</summary>
    public void Reserve(int capacity)
    {
        if (capacity > _items.Length)
            Array.Resize(ref _items, capacity);
    }

    public void Add(in SqlToken t)
    {
        if (Count == _items.Length)
            Array.Resize(ref _items, _items.Length * 2);
        _items[Count++] = t;
    }

    public ReadOnlySpan<SqlToken> Slice(int first, int count) => _items.AsSpan(first, count);
}
