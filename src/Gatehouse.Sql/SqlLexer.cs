namespace Gatehouse.Sql;

/// <summary>
/// A hand-written scanner that follows PostgreSQL's scan.l for everything that decides where a token,
/// a literal or a comment ends: nested block comments, dollar quoting, E/B/X/N/U&amp; prefixes,
/// standard_conforming_strings, UESCAPE, and operators that stop at "--" or "/*".
/// Whitespace and comments are skipped. Never throws; malformed input yields <see cref="TokenKind.Error"/>.
/// Token kinds do not depend on standard_conforming_strings ('…' and N'…' are <see cref="TokenKind.String"/>
/// either way), so the token streams of the two readings can be compared (<see cref="Lexing"/>).
/// </summary>
internal ref struct SqlLexer
{
    private readonly ReadOnlySpan<char> _s;
    private readonly bool _scs;
    private int _pos;

    public SqlLexer(ReadOnlySpan<char> text, bool standardConformingStrings)
    {
        _s = text;
        _scs = standardConformingStrings;
        _pos = 0;
    }

    /// <summary>Continues at <paramref name="position"/>, a token boundary of this reading.</summary>
    public void Seek(int position) => _pos = position;

    public bool Next(out SqlToken token)
    {
        if (!SkipTrivia(ref _pos, out var commentError))
        {
            token = default;
            return false;
        }
        if (commentError)
        {
            token = new SqlToken(TokenKind.Error, _pos, _s.Length - _pos, Kw.None, KwFlags.None);
            _pos = _s.Length;
            return true;
        }
        token = Scan();
        _pos = token.End;
        return true;
    }

    /// <summary>Skips whitespace and comments. False at end of text; commentError on an unterminated block comment.</summary>
    private readonly bool SkipTrivia(ref int p, out bool commentError)
    {
        commentError = false;
        var s = _s;
        while (p < s.Length)
        {
            var c = s[p];
            if (c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v')
            {
                p++;
            }
            else if (c == '-' && p + 1 < s.Length && s[p + 1] == '-')
            {
                var nl = s[p..].IndexOfAny('\n', '\r');
                p = nl < 0 ? s.Length : p + nl + 1;
            }
            else if (c == '/' && p + 1 < s.Length && s[p + 1] == '*')
            {
                var depth = 1;
                var q = p + 2;
                while (depth > 0)
                {
                    var i = s[q..].IndexOfAny('*', '/');
                    if (i < 0)
                    {
                        commentError = true;
                        return true;
                    }
                    q += i;
                    if (s[q] == '*' && q + 1 < s.Length && s[q + 1] == '/') { depth--; q += 2; }
                    else if (s[q] == '/' && q + 1 < s.Length && s[q + 1] == '*') { depth++; q += 2; }
                    else q++;
                }
                p = q;
            }
            else
            {
                return true;
            }
        }
        return false;
    }

    private readonly SqlToken Scan()
    {
        var s = _s;
        var p = _pos;
        var c = s[p];
        switch (c)
        {
            case '(': return Simple(TokenKind.LParen, p, 1);
            case ')': return Simple(TokenKind.RParen, p, 1);
            case '[': return Simple(TokenKind.LBracket, p, 1);
            case ']': return Simple(TokenKind.RBracket, p, 1);
            case ',': return Simple(TokenKind.Comma, p, 1);
            case ';': return Simple(TokenKind.Semicolon, p, 1);
            case '\'': return QuotedString(p, p, TokenKind.String, !_scs);
            case '"': return QuotedIdent(p, p, TokenKind.QuotedIdent);
            case '$': return Dollar(p);
            case ':':
                if (p + 1 < s.Length && s[p + 1] == ':') return Simple(TokenKind.TypeCast, p, 2);
                if (p + 1 < s.Length && s[p + 1] == '=') return Simple(TokenKind.Operator, p, 2);
                return Simple(TokenKind.Colon, p, 1);
            case '.':
                if (p + 1 < s.Length && char.IsAsciiDigit(s[p + 1])) return Number(p);
                if (p + 1 < s.Length && s[p + 1] == '.') return Simple(TokenKind.Operator, p, 2);
                return Simple(TokenKind.Dot, p, 1);
        }
        if (char.IsAsciiDigit(c))
            return Number(p);
        if (IsIdentStart(c))
            return Word(p);
        if (IsOpChar(c))
        {
            var q = p + 1;
            while (q < s.Length && IsOpChar(s[q]) && !(q + 1 < s.Length &&
                   ((s[q] == '-' && s[q + 1] == '-') || (s[q] == '/' && s[q + 1] == '*'))))
                q++;
            return Simple(TokenKind.Operator, p, q - p);
        }
        return Simple(TokenKind.Error, p, 1);
    }

    private static SqlToken Simple(TokenKind kind, int start, int length) => new(kind, start, length, Kw.None, KwFlags.None);

    private readonly SqlToken Word(int p)
    {
        var s = _s;
        var q = p + 1;
        while (q < s.Length && IsIdentCont(s[q]))
            q++;
        if (q < s.Length && q - p == 1)
        {
            var c = s[p] | 0x20;
            if (s[q] == '\'')
            {
                switch (c)
                {
                    case 'e': return QuotedString(p, q, TokenKind.EscapeString, true);
                    case 'b' or 'x': return QuotedString(p, q, TokenKind.BitString, false);
                    case 'n': return QuotedString(p, q, TokenKind.String, !_scs);
                }
            }
            if (c == 'u' && s[q] == '&' && q + 1 < s.Length)
            {
                if (s[q + 1] == '\'')
                    return _scs ? Uescape(QuotedString(p, q + 1, TokenKind.UnicodeString, false)) : Simple(TokenKind.Error, p, s.Length - p);
                if (s[q + 1] == '"')
                    return Uescape(QuotedIdent(p, q + 1, TokenKind.UnicodeIdent));
            }
        }
        var (kw, flags) = Keywords.Find(s[p..q]);
        return new SqlToken(TokenKind.Word, p, q - p, kw, flags);
    }

    /// <summary>Quote at <paramref name="quote"/>; doubled quotes continue; <paramref name="backslash"/>: backslash
    /// escapes (E-strings, and '…' or N'…' without standard_conforming_strings). A quote after whitespace that holds
    /// a newline continues the same literal in the same mode (scan.l quotecontinue: E'a'⏎'\'' is one E-string).</summary>
    private readonly SqlToken QuotedString(int start, int quote, TokenKind kind, bool backslash)
    {
        var s = _s;
        var q = quote + 1;
        var flags = KwFlags.None;
        while (true)
        {
            var i = backslash ? s[q..].IndexOfAny('\'', '\\') : s[q..].IndexOf('\'');
            if (i < 0)
                return Simple(TokenKind.Error, start, s.Length - start);
            q += i;
            if (s[q] == '\\')
            {
                q += 2;
                if (q > s.Length)
                    return Simple(TokenKind.Error, start, s.Length - start);
                continue;
            }
            if (q + 1 < s.Length && s[q + 1] == '\'')
            {
                q += 2;
                continue;
            }
            if (Continuation(q + 1) is var next and > 0)
            {
                flags = KwFlags.Continued;
                q = next + 1;
                continue;
            }
            return new SqlToken(kind, start, q + 1 - start, Kw.None, flags);
        }
    }

    /// <summary>scan.l's {whitespace_with_newline}{quote} at <paramref name="p"/>: horizontal space or "--" comments,
    /// a newline, then any space or "--" comments ended by a newline (no block comments); the index of the quote, or -1.</summary>
    private readonly int Continuation(int p)
    {
        var s = _s;
        while (p < s.Length && (s[p] is ' ' or '\t' or '\f' or '\v' || s[p] == '-' && p + 1 < s.Length && s[p + 1] == '-'))
            p = s[p] == '-' ? LineEnd(p) : p + 1;
        if (p >= s.Length || s[p] is not ('\n' or '\r'))
            return -1;
        p++;
        while (p < s.Length)
        {
            if (s[p] is ' ' or '\t' or '\n' or '\r' or '\f' or '\v')
                p++;
            else if (s[p] == '-' && p + 1 < s.Length && s[p + 1] == '-' && LineEnd(p) is var end && end < s.Length)
                p = end + 1;
            else
                break;
        }
        return p < s.Length && s[p] == '\'' ? p : -1;
    }

    /// <summary>The index of the newline ending the line comment at <paramref name="p"/>, or the text's length.</summary>
    private readonly int LineEnd(int p)
    {
        var nl = _s[p..].IndexOfAny('\n', '\r');
        return nl < 0 ? _s.Length : p + nl;
    }

    private readonly SqlToken QuotedIdent(int start, int quote, TokenKind kind)
    {
        var s = _s;
        var q = quote + 1;
        while (true)
        {
            var i = s[q..].IndexOf('"');
            if (i < 0)
                return Simple(TokenKind.Error, start, s.Length - start);
            q += i;
            if (q + 1 < s.Length && s[q + 1] == '"')
            {
                q += 2;
                continue;
            }
            // A zero-length delimited identifier is an error in PostgreSQL.
            return q == quote + 1 ? Simple(TokenKind.Error, start, q + 1 - start)
                : new SqlToken(kind, start, q + 1 - start, Kw.None, KwFlags.None);
        }
    }

    /// <summary>After U&amp;'…' or U&amp;"…": absorbs an optional UESCAPE 'c' clause into the token.</summary>
    private readonly SqlToken Uescape(SqlToken t)
    {
        if (t.Kind == TokenKind.Error)
            return t;
        var s = _s;
        var p = t.End;
        if (!SkipTrivia(ref p, out var err) || err || p + 7 > s.Length || !s.Slice(p, 7).Equals("uescape", StringComparison.OrdinalIgnoreCase)
            || (p + 7 < s.Length && IsIdentCont(s[p + 7])))
            return t;
        p += 7;
        if (!SkipTrivia(ref p, out err) || err || p + 3 > s.Length || s[p] != '\'' || s[p + 2] != '\'')
            return Simple(TokenKind.Error, t.Start, Math.Min(s.Length, p + 1) - t.Start);
        var esc = s[p + 1];
        if (char.IsAsciiHexDigit(esc) || esc is '+' or '\'' or '"' or ' ' or '\t' or '\n' or '\r' or '\f' or '\v')
            return Simple(TokenKind.Error, t.Start, p + 3 - t.Start);
        return t with { Length = p + 3 - t.Start, Flags = t.Flags | KwFlags.Uescape };
    }

    private readonly SqlToken Dollar(int p)
    {
        var s = _s;
        var q = p + 1;
        if (q < s.Length && char.IsAsciiDigit(s[q]))
        {
            while (q < s.Length && char.IsAsciiDigit(s[q]))
                q++;
            return Simple(TokenKind.Param, p, q - p);
        }
        if (q < s.Length && s[q] != '$' && !IsIdentStart(s[q]))
            return Simple(TokenKind.Error, p, 1);
        while (q < s.Length && s[q] != '$' && IsIdentStart(s[q]) | char.IsAsciiDigit(s[q]))
            q++;
        if (q >= s.Length || s[q] != '$')
            return Simple(TokenKind.Error, p, 1);
        var delimiter = s[p..(q + 1)];
        var close = s[(q + 1)..].IndexOf(delimiter);
        if (close < 0)
            return Simple(TokenKind.Error, p, s.Length - p);
        return Simple(TokenKind.DollarString, p, q + 1 + close + delimiter.Length - p);
    }

    private readonly SqlToken Number(int p)
    {
        var s = _s;
        var q = p;
        while (q < s.Length && (char.IsAsciiDigit(s[q]) || s[q] == '_'))
            q++;
        if (q < s.Length && s[q] == '.' && !(q + 1 < s.Length && s[q + 1] == '.'))
        {
            q++;
            while (q < s.Length && (char.IsAsciiDigit(s[q]) || s[q] == '_'))
                q++;
        }
        if (q + 1 < s.Length && (s[q] | 0x20) == 'e' && (char.IsAsciiDigit(s[q + 1]) ||
            (q + 2 < s.Length && s[q + 1] is '+' or '-' && char.IsAsciiDigit(s[q + 2]))))
        {
            q += 2;
            while (q < s.Length && char.IsAsciiDigit(s[q]))
                q++;
        }
        // 0x1F, 0o17, 0b101 and "trailing junk" (an error since PostgreSQL 15) stay inside the number token.
        while (q < s.Length && IsIdentStart(s[q]) | char.IsAsciiDigit(s[q]))
            q++;
        return Simple(TokenKind.Number, p, q - p);
    }

    internal static bool IsIdentStart(char c) => char.IsAsciiLetter(c) || c == '_' || c >= '\u0080';

    internal static bool IsIdentCont(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '$' || c >= '\u0080';

    private static bool IsOpChar(char c) => c is '~' or '!' or '@' or '#' or '^' or '&' or '|' or '`' or '?' or '+' or '-' or '*' or '/' or '%' or '<' or '>' or '=';
}
