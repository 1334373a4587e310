using System.Runtime.InteropServices;

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

/// <summary>One token: a span of the analyzed text plus what the lexer learned about it. Twelve bytes, since a statement's
/// tokens are all held while it is analyzed (a text of one-character tokens costs six times its own UTF-16 size).</summary>
[StructLayout(LayoutKind.Explicit, Size = 12)]   // the three bytes after the two ints, not padded around them
internal readonly record struct SqlToken(
    [field: FieldOffset(8)] TokenKind Kind,
    [field: FieldOffset(0)] int Start,
    [field: FieldOffset(4)] int Length,
    [field: FieldOffset(9)] Kw Keyword,
    [field: FieldOffset(10)] KwFlags Flags)
{
    public int End => Start + Length;

    /// <summary>The escape character of a U&amp;'…' or U&amp;"…" token: the one its UESCAPE 'c' clause names (the clause
    /// is the token's last three characters), else backslash.</summary>
    public char EscapeIn(ReadOnlySpan<char> text) => (Flags & KwFlags.Uescape) != 0 ? text[End - 2] : '\\';

    public bool IsName => Kind is TokenKind.Word or TokenKind.QuotedIdent or TokenKind.UnicodeIdent;

    public bool Is(Kw keyword) => Keyword == keyword;
}
