namespace Gatehouse.Sql;

/// <summary>Lexical token kinds of PostgreSQL's scanner (scan.l), as far as analysis needs them.</summary>
internal enum TokenKind : byte
{
    Word,            // unquoted identifier or keyword
    QuotedIdent,     // "..."
    UnicodeIdent,    // U&"..." [UESCAPE 'c']
    String,          // '...', N'...'
    EscapeString,    // E'...'
    UnicodeString,   // U&'...' [UESCAPE 'c']
    BitString,       // B'...', X'...'
    DollarString,    // $tag$...$tag$
    Number,
    Param,           // $1
    Operator,
    TypeCast,        // ::
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Semicolon,
    Dot,
    Colon,
    Error,           // unterminated literal/comment, invalid escape, stray '$'
}

/// <summary>One token: a span of the analyzed text plus what the lexer learned about it.</summary>
internal readonly record struct SqlToken(TokenKind Kind, int Start, int Length, Kw Keyword, KwFlags Flags, char Escape = '\\')
{
    public int End => Start + Length;

    public bool IsName => Kind is TokenKind.Word or TokenKind.QuotedIdent or TokenKind.UnicodeIdent;

    public bool Is(Kw keyword) => Keyword == keyword;
}
