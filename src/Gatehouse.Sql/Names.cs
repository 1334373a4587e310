using System.Globalization;
using System.Text;

namespace Gatehouse.Sql;

/// <summary>Turns identifier tokens into names exactly as PostgreSQL does: ASCII down-casing of unquoted
/// words, quote removal, U&amp;"…" escape decoding, truncation to NAMEDATALEN-1 (63) bytes.</summary>
internal static class Names
{
    private const int MaxBytes = 63;

    /// <summary>Null when the token cannot be a name (e.g. an invalid Unicode escape).</summary>
    public static string? Normalize(ReadOnlySpan<char> text, in SqlToken t)
    {
        var raw = text.Slice(t.Start, t.Length);
        string name;
        switch (t.Kind)
        {
            case TokenKind.Word:
                name = FoldAscii(raw);
                break;
            case TokenKind.QuotedIdent:
                name = Undouble(raw[1..^1], '"');
                break;
            case TokenKind.UnicodeIdent:
                var close = raw.LastIndexOf('"');
                var decoded = DecodeUnicode(Undouble(raw[3..close], '"'), t.EscapeIn(text));
                if (decoded is null or "")
                    return null;
                name = decoded;
                break;
            default:
                return null;
        }
        return Truncate(name);
    }

    private static string FoldAscii(ReadOnlySpan<char> raw)
    {
        var i = 0;
        while (i < raw.Length && !char.IsAsciiLetterUpper(raw[i]))
            i++;
        if (i == raw.Length)
            return raw.ToString();
        return string.Create(raw.Length, raw, static (dst, src) =>
        {
            for (var k = 0; k < src.Length; k++)
                dst[k] = char.IsAsciiLetterUpper(src[k]) ? (char)(src[k] | 0x20) : src[k];
        });
    }

    private static string Undouble(ReadOnlySpan<char> body, char quote) => Literals.Undouble(body, quote);

    /// <summary>Decodes \XXXX and \+XXXXXX (escape char configurable); null on an invalid escape.</summary>
    internal static string? DecodeUnicode(string body, char escape)
    {
        if (body.IndexOf(escape) < 0)
            return body;
        var sb = new StringBuilder(body.Length);
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] != escape)
            {
                sb.Append(body[i]);
                continue;
            }
            if (i + 1 < body.Length && body[i + 1] == escape)
            {
                sb.Append(escape);
                i++;
                continue;
            }
            int digits = i + 1 < body.Length && body[i + 1] == '+' ? 6 : 4;
            var from = digits == 6 ? i + 2 : i + 1;
            if (from + digits > body.Length || !int.TryParse(body.AsSpan(from, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var cp))
                return null;
            i = from + digits - 1;
            if (cp is >= 0xD800 and <= 0xDBFF)
            {
                // A surrogate pair must be written as two escapes.
                if (i + 1 >= body.Length || body[i + 1] != escape)
                    return null;
                var lowFrom = body.Length > i + 2 && body[i + 2] == '+' ? i + 3 : i + 2;
                var lowDigits = lowFrom == i + 3 ? 6 : 4;
                if (lowFrom + lowDigits > body.Length || !int.TryParse(body.AsSpan(lowFrom, lowDigits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var low)
                    || low is < 0xDC00 or > 0xDFFF)
                    return null;
                sb.Append((char)cp).Append((char)low);
                i = lowFrom + lowDigits - 1;
                continue;
            }
            if (cp is 0 or > 0x10FFFF or (>= 0xDC00 and <= 0xDFFF))
                return null;
            sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    internal static string Truncate(string name)
    {
        if (name.Length <= MaxBytes / 3 || Encoding.UTF8.GetByteCount(name) <= MaxBytes)
            return name;
        var bytes = 0;
        var i = 0;
        while (i < name.Length)
        {
            var n = char.IsSurrogatePair(name, i) ? 2 : 1;
            var b = Encoding.UTF8.GetByteCount(name.AsSpan(i, n));
            if (bytes + b > MaxBytes)
                break;
            bytes += b;
            i += n;
        }
        return name[..i];
    }
}
