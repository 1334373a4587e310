using System.Globalization;
using System.Text;

namespace Gatehouse.Sql;

/// <summary>How the plain '…' (and N'…') literals of a text are read.</summary>
internal enum StringMode : byte
{
    /// <summary>Backslashes are ordinary characters: the text has no backslash, or only the
    /// standard_conforming_strings = on reading lexes it without error.</summary>
    Standard,
    /// <summary>Backslashes are escapes: only the standard_conforming_strings = off reading lexes the text.</summary>
    Escape,
    /// <summary>Both readings lex the text to the same tokens: a '…' literal that contains a backslash has two
    /// possible values, so it is not a literal the analyzer may rely on.</summary>
    Ambiguous,
}

/// <summary>
/// Chooses how to read a query string without knowing the session's standard_conforming_strings. The server
/// lexes and parses a whole simple-query string before it runs any statement of it, and a lexing error runs
/// nothing; so the analyzer lexes the text under both settings when (and only when) it holds a backslash, the
/// only character whose meaning differs (besides U&amp;'…', which the "off" reading rejects outright).
/// </summary>
internal static class Lexing
{
    public const string ConflictReason =
        "string literal whose meaning depends on standard_conforming_strings; use E'…' for backslashes";

    /// <summary>The reading to analyze with; <paramref name="conflict"/> when both readings lex without error
    /// but to different tokens (the text then means different statements to different sessions). The "on"
    /// reading is lexed once; the "off" one only where it can differ, at a plain '…' or N'…' literal (or an error
    /// token) holding a backslash: every other token is the same under both, so the "off" lexer skips it.</summary>
    public static StringMode Choose(ReadOnlySpan<char> text, out bool conflict)
    {
        conflict = false;
        if (text.IndexOf('\\') < 0)
            return StringMode.Standard;
        var on = new SqlLexer(text, standardConformingStrings: true);
        var off = new SqlLexer(text, standardConformingStrings: false);
        var ambiguous = false;
        while (on.Next(out var a))
        {
            if (a.Kind == TokenKind.UnicodeString)
                return StringMode.Standard;   // the "off" reading rejects U&'…': only "on" can run
            if (a.Kind is not (TokenKind.String or TokenKind.Error) || text.Slice(a.Start, a.Length).IndexOf('\\') < 0)
            {
                if (a.Kind == TokenKind.Error)
                    return StringMode.Standard;   // the same error under both readings: nothing runs
                off.Seek(a.End);
                continue;
            }
            off.Seek(a.Start);
            var hasOff = off.Next(out var b);
            if (hasOff && b.Kind == a.Kind && b.Start == a.Start && b.Length == a.Length)
            {
                if (a.Kind == TokenKind.Error)
                    return StringMode.Standard;
                ambiguous = true;
                continue;
            }
            // The readings part here: only whether each of them lexes to the end still matters.
            var errorOn = a.Kind == TokenKind.Error;
            var errorOff = hasOff && b.Kind == TokenKind.Error;
            while (!errorOn && on.Next(out a))
                errorOn = a.Kind == TokenKind.Error;
            while (!errorOff && off.Next(out b))
                errorOff = b.Kind == TokenKind.Error;
            conflict = !errorOn && !errorOff;
            return errorOn && !errorOff ? StringMode.Escape : StringMode.Standard;
        }
        return ambiguous ? StringMode.Ambiguous : StringMode.Standard;
    }
}

/// <summary>Values of constants as the server computes them (scan.l, SplitIdentifierString, quote_identifier).</summary>
internal static class Literals
{
    /// <summary>The value of a string constant (Sconst: '…', E'…', U&amp;'…', $$…$$), or null when the token is not
    /// one (N'…' is NCHAR '…', B'…'/X'…' are bit strings) or its value is not certain.</summary>
    public static string? Value(ReadOnlySpan<char> text, in SqlToken t, StringMode mode)
    {
        var raw = text.Slice(t.Start, t.Length);
        if ((t.Flags & KwFlags.Continued) != 0)
            return null;   // 'a'⏎'b': not worth decoding; not a literal the analyzer relies on
        switch (t.Kind)
        {
            case TokenKind.String:
                if ((raw[0] | 0x20) == 'n')
                    return null;
                var body = raw[1..^1];
                if (body.IndexOf('\\') < 0 || mode == StringMode.Standard)
                    return Undouble(body, '\'');
                return mode == StringMode.Escape ? Unescape(body) : null;
            case TokenKind.EscapeString:
                return Unescape(raw[2..^1]);
            case TokenKind.UnicodeString:
                var end = 3;
                while (raw[end] != '\'' || end + 1 < raw.Length && raw[end + 1] == '\'')
                    end += raw[end] == '\'' ? 2 : 1;
                var decoded = Names.DecodeUnicode(Undouble(raw[3..end], '\''), t.EscapeIn(text));
                return decoded;
            case TokenKind.DollarString:
                var tag = raw[1..].IndexOf('$') + 2;
                return raw[tag..^tag].ToString();
            default:
                return null;
        }
    }

    /// <summary>True when the token after a constant is another string constant (on the same line: the lexer joins
    /// continuations): the server rejects that, so the first alone is not a value to rely on.</summary>
    public static bool FollowedByString(ReadOnlySpan<SqlToken> tokens, int j) =>
        j + 1 < tokens.Length && tokens[j + 1].Kind is TokenKind.String or TokenKind.EscapeString or TokenKind.UnicodeString or TokenKind.BitString;

    internal static string Undouble(ReadOnlySpan<char> body, char quote)
    {
        var s = body.ToString();
        return body.IndexOf(quote) < 0 ? s : s.Replace(new string(quote, 2), quote.ToString(), StringComparison.Ordinal);
    }

    /// <summary>E'…' body: \b \f \n \r \t, octal \ooo and hex \xhh bytes, \uXXXX and \UXXXXXXXX, any other
    /// escaped character stands for itself. Null where the server would fail or the bytes depend on the server
    /// encoding (a byte escape of 0 or above 0x7F).</summary>
    private static string? Unescape(ReadOnlySpan<char> body)
    {
        var sb = new StringBuilder(body.Length);
        for (var i = 0; i < body.Length; i++)
        {
            var c = body[i];
            if (c == '\'')
            {
                sb.Append('\'');
                i++;   // '' inside the literal
                continue;
            }
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            var e = body[++i];
            if (e is >= '0' and <= '7')
            {
                var v = 0;
                var n = 0;
                while (n < 3 && i < body.Length && body[i] is >= '0' and <= '7')
                {
                    v = v * 8 + (body[i++] - '0');
                    n++;
                }
                i--;
                v &= 0xFF;
                if (v is 0 or > 0x7F)
                    return null;
                sb.Append((char)v);
            }
            else if (e == 'x' && i + 1 < body.Length && char.IsAsciiHexDigit(body[i + 1]))
            {
                var n = i + 2 < body.Length && char.IsAsciiHexDigit(body[i + 2]) ? 2 : 1;
                var v = int.Parse(body.Slice(i + 1, n), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
                if (v is 0 or > 0x7F)
                    return null;
                sb.Append((char)v);
                i += n;
            }
            else if (e is 'u' or 'U')
            {
                var digits = e == 'u' ? 4 : 8;
                if (!CodePoint(body, i + 1, digits, out var cp))
                    return null;
                i += digits;
                if (cp is >= 0xD800 and <= 0xDBFF)
                {
                    // A high surrogate must be followed by a \u or \U low surrogate.
                    if (i + 2 >= body.Length || body[i + 1] != '\\' || body[i + 2] is not ('u' or 'U'))
                        return null;
                    var lowDigits = body[i + 2] == 'u' ? 4 : 8;
                    if (!CodePoint(body, i + 3, lowDigits, out var low) || low is < 0xDC00 or > 0xDFFF)
                        return null;
                    i += 2 + lowDigits;
                    sb.Append((char)cp).Append((char)low);
                    continue;
                }
                if (cp is 0 or > 0x10FFFF or (>= 0xDC00 and <= 0xDFFF))
                    return null;
                sb.Append(char.ConvertFromUtf32(cp));
            }
            else
            {
                sb.Append(e switch { 'b' => '\b', 'f' => '\f', 'n' => '\n', 'r' => '\r', 't' => '\t', _ => e });
            }
        }
        return sb.ToString();
    }

    private static bool CodePoint(ReadOnlySpan<char> body, int from, int digits, out int cp)
    {
        cp = 0;
        if (from + digits > body.Length)
            return false;
        foreach (var c in body.Slice(from, digits))
            if (!char.IsAsciiHexDigit(c))
                return false;
        return int.TryParse(body.Slice(from, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out cp) && cp >= 0;
    }

    /// <summary>A relation named by text, read as regclass input reads it: [schema.]name with identifier
    /// quoting, unquoted parts ASCII lower-cased, whitespace around parts allowed; a catalog part is dropped.
    /// False for an OID ("16384"), "-" and anything malformed.</summary>
    public static bool TryRelation(string text, out QualifiedName name)
    {
        name = default;
        if (text.Length == 0 || text == "-" || char.IsAsciiDigit(text[0]) && text.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0)
            return false;   // regclassin: digits are an OID, "-" is InvalidOid
        Span<(int Start, int Length, bool Quoted)> parts = stackalloc (int, int, bool)[4];
        var count = 0;
        var i = 0;
        SkipSpace(text, ref i);
        while (true)
        {
            if (count == parts.Length || i >= text.Length)
                return false;
            int start;
            if (text[i] == '"')
            {
                start = ++i;
                while (true)
                {
                    var close = text.IndexOf('"', i);
                    if (close < 0)
                        return false;
                    if (close + 1 < text.Length && text[close + 1] == '"')
                    {
                        i = close + 2;
                        continue;
                    }
                    i = close + 1;
                    break;
                }
                parts[count++] = (start, i - 1 - start, true);
            }
            else
            {
                start = i;
                while (i < text.Length && text[i] != '.' && !IsSpace(text[i]))
                    i++;
                parts[count++] = (start, i - start, false);
            }
            if (parts[count - 1].Length == 0)
                return false;
            SkipSpace(text, ref i);
            if (i == text.Length)
                break;
            if (text[i] != '.')
                return false;
            i++;
            SkipSpace(text, ref i);
        }
        if (count > 3)
            return false;
        name = new QualifiedName(count > 1 ? Part(text, parts[count - 2]) : null, Part(text, parts[count - 1]));
        return true;
    }

    private static string Part(string text, (int Start, int Length, bool Quoted) part) =>
        Names.Truncate(part.Quoted ? Undouble(text.AsSpan(part.Start, part.Length), '"') : FoldAscii(text.AsSpan(part.Start, part.Length)));

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f';

    private static void SkipSpace(string s, ref int i)
    {
        while (i < s.Length && IsSpace(s[i]))
            i++;
    }

    private static string FoldAscii(ReadOnlySpan<char> raw) =>
        string.Create(raw.Length, raw, static (dst, src) =>
        {
            for (var k = 0; k < src.Length; k++)
                dst[k] = char.IsAsciiLetterUpper(src[k]) ? (char)(src[k] | 0x20) : src[k];
        });

    /// <summary>quote_identifier(): double-quoted unless all [a-z0-9_], starting with [a-z_], and not a keyword
    /// other than an unreserved one.</summary>
    public static string QuoteIdentifier(string ident)
    {
        var safe = ident.Length > 0 && (char.IsAsciiLetterLower(ident[0]) || ident[0] == '_');
        foreach (var c in ident)
            safe &= char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_';
        if (safe && (Keywords.Find(ident).Flags & KwFlags.Quoted) != 0)
            safe = false;
        return safe ? ident : "\"" + ident.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>A decimal integer constant as the server reads it: an Iconst when it fits in 32 bits (printed
    /// with %d: 001 → 1), else a Fconst kept as written. False for anything PostgreSQL 15 rejects (0x1F, 1_000).</summary>
    public static bool TryNumber(ReadOnlySpan<char> raw, bool negative, out string text, out long? integer)
    {
        text = "";
        integer = null;
        var isInteger = true;
        foreach (var c in raw)
        {
            if (c is '.' or 'e' or 'E' or '+' or '-')
                isInteger = false;
            else if (!char.IsAsciiDigit(c))
                return false;
        }
        if (raw.Length == 0 || raw[^1] is 'e' or 'E' or '+' or '-')
            return false;
        if (isInteger && long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v <= int.MaxValue)
        {
            integer = negative ? -v : v;
            text = integer.Value.ToString(CultureInfo.InvariantCulture);
            return true;
        }
        text = (negative ? "-" : "") + raw.ToString();
        return true;
    }

    /// <summary>parse_bool() (boolean input): true/false/yes/no/on/off/1/0 and unique prefixes, any case.</summary>
    public static bool? ParseBool(string value)
    {
        var v = value.Trim().ToLowerInvariant();
        if (v.Length == 0)
            return null;
        if (v is "1") return true;
        if (v is "0") return false;
        if ("true".StartsWith(v, StringComparison.Ordinal) || "yes".StartsWith(v, StringComparison.Ordinal)) return true;
        if ("false".StartsWith(v, StringComparison.Ordinal) || "no".StartsWith(v, StringComparison.Ordinal)) return false;
        if (v.Length >= 2 && "on".StartsWith(v, StringComparison.Ordinal)) return true;
        if (v.Length >= 2 && "off".StartsWith(v, StringComparison.Ordinal)) return false;
        return null;
    }
}
