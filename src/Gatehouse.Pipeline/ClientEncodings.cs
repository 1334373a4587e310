using System.Collections.Frozen;

namespace Gatehouse.Pipeline;

/// <summary>
/// Client encoding names resolved the way PostgreSQL resolves them (encnames.c: every character that is not an
/// ASCII letter or digit is dropped, the rest lower-cased, then looked up among names and aliases), and whether
/// Gatehouse can analyze text in that encoding. Gatehouse decodes SQL text and text parameters in the client
/// encoding, as the server does (two names that differ in their bytes must differ to the analyzer too): UTF-8
/// (and SQL_ASCII, whose bytes the server checks as its own encoding, UTF-8), and the single-byte encodings .NET
/// has a code page for, and EUC_JP, EUC_KR and EUC_CN. Everything else is refused by every route: SJIS, BIG5, GBK,
/// UHC, GB18030, JOHAB and SHIFT_JIS_2004 have trail bytes in the ASCII range (a backslash or a quote can be the
/// second half of a character), EUC_TW, EUC_JIS_2004, MULE_INTERNAL and LATIN6/8/10 have no decoder here, and any
/// name the table does not know.
/// </summary>
public static class ClientEncodings
{
    private static readonly FrozenSet<string> Unsafe = FrozenSet.Create(StringComparer.Ordinal,
        "SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "UHC", "GB18030", "JOHAB");

    // Cleaned name → canonical encoding, as in PostgreSQL's pg_encname_tbl.
    private static readonly FrozenDictionary<string, string> Names = new Dictionary<string, string>
    {
        ["abc"] = "WIN1258", ["alt"] = "WIN866", ["big5"] = "BIG5", ["euccn"] = "EUC_CN", ["eucjis2004"] = "EUC_JIS_2004",
        ["eucjp"] = "EUC_JP", ["euckr"] = "EUC_KR", ["euctw"] = "EUC_TW", ["gb18030"] = "GB18030", ["gbk"] = "GBK",
        ["iso88591"] = "LATIN1", ["iso885910"] = "LATIN6", ["iso885913"] = "LATIN7", ["iso885914"] = "LATIN8",
        ["iso885915"] = "LATIN9", ["iso885916"] = "LATIN10", ["iso88592"] = "LATIN2", ["iso88593"] = "LATIN3",
        ["iso88594"] = "LATIN4", ["iso88595"] = "ISO_8859_5", ["iso88596"] = "ISO_8859_6", ["iso88597"] = "ISO_8859_7",
        ["iso88598"] = "ISO_8859_8", ["iso88599"] = "LATIN5", ["johab"] = "JOHAB", ["koi8"] = "KOI8R", ["koi8r"] = "KOI8R",
        ["koi8u"] = "KOI8U", ["latin1"] = "LATIN1", ["latin2"] = "LATIN2", ["latin3"] = "LATIN3", ["latin4"] = "LATIN4",
        ["latin5"] = "LATIN5", ["latin6"] = "LATIN6", ["latin7"] = "LATIN7", ["latin8"] = "LATIN8", ["latin9"] = "LATIN9",
        ["latin10"] = "LATIN10", ["mskanji"] = "SJIS", ["muleinternal"] = "MULE_INTERNAL", ["shiftjis"] = "SJIS",
        ["shiftjis2004"] = "SHIFT_JIS_2004", ["sjis"] = "SJIS", ["sqlascii"] = "SQL_ASCII", ["tcvn"] = "WIN1258",
        ["tcvn5712"] = "WIN1258", ["uhc"] = "UHC", ["unicode"] = "UTF8", ["utf8"] = "UTF8", ["vscii"] = "WIN1258",
        ["win"] = "WIN1251", ["win1250"] = "WIN1250", ["win1251"] = "WIN1251", ["win1252"] = "WIN1252",
        ["win1253"] = "WIN1253", ["win1254"] = "WIN1254", ["win1255"] = "WIN1255", ["win1256"] = "WIN1256",
        ["win1257"] = "WIN1257", ["win1258"] = "WIN1258", ["win866"] = "WIN866", ["win874"] = "WIN874",
        ["win932"] = "SJIS", ["win936"] = "GBK", ["win949"] = "UHC", ["win950"] = "BIG5",
        ["windows1250"] = "WIN1250", ["windows1251"] = "WIN1251", ["windows1252"] = "WIN1252", ["windows1253"] = "WIN1253",
        ["windows1254"] = "WIN1254", ["windows1255"] = "WIN1255", ["windows1256"] = "WIN1256", ["windows1257"] = "WIN1257",
        ["windows1258"] = "WIN1258", ["windows866"] = "WIN866", ["windows874"] = "WIN874", ["windows932"] = "SJIS",
        ["windows936"] = "GBK", ["windows949"] = "UHC", ["windows950"] = "BIG5",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    // Canonical name → the code page Gatehouse decodes it with (UTF8 and SQL_ASCII are read as UTF-8).
    private static readonly FrozenDictionary<string, int> CodePages = new Dictionary<string, int>
    {
        ["LATIN1"] = 28591, ["LATIN2"] = 28592, ["LATIN3"] = 28593, ["LATIN4"] = 28594, ["LATIN5"] = 28599,
        ["LATIN7"] = 28603, ["LATIN9"] = 28605, ["ISO_8859_5"] = 28595, ["ISO_8859_6"] = 28596, ["ISO_8859_7"] = 28597,
        ["ISO_8859_8"] = 28598, ["WIN1250"] = 1250, ["WIN1251"] = 1251, ["WIN1252"] = 1252, ["WIN1253"] = 1253,
        ["WIN1254"] = 1254, ["WIN1255"] = 1255, ["WIN1256"] = 1256, ["WIN1257"] = 1257, ["WIN1258"] = 1258,
        ["WIN866"] = 866, ["WIN874"] = 874, ["KOI8R"] = 20866, ["KOI8U"] = 21866,
        ["EUC_JP"] = 51932, ["EUC_KR"] = 51949, ["EUC_CN"] = 936,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    static ClientEncodings() => System.Text.Encoding.RegisterProvider(System.Text.CodePagesEncodingProvider.Instance);

    /// <summary>UTF-8 that refuses invalid bytes (the server refuses them too) instead of reading each as U+FFFD.</summary>
    public static readonly System.Text.Encoding StrictUtf8 = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The statement may change client_encoding when it runs (a SET or RESET of it, RESET ALL, DISCARD, set_config).</summary>
    public static bool MayChange(Gatehouse.Sql.StatementFacts statement) =>
        statement.Command.StartsWith("DISCARD", StringComparison.Ordinal)
        || statement.Settings.Any(s => s.Name is "client_encoding" or "all");

    /// <summary>How Gatehouse decodes text the client sends in this encoding (a name as the server reports it); null when it cannot.</summary>
    public static System.Text.Encoding? TextEncoding(string name) => Resolve(name) switch
    {
        "UTF8" or "SQL_ASCII" => StrictUtf8,
        // Strict: bytes the code page does not map are refused (the server refuses them too), never one replacement
        // character for many byte sequences.
        { } canonical when CodePages.TryGetValue(canonical, out int page) =>
            System.Text.Encoding.GetEncoding(page, System.Text.EncoderFallback.ExceptionFallback, System.Text.DecoderFallback.ExceptionFallback),
        _ => null,
    };

    /// <summary>The canonical encoding a client-supplied name selects, or null when PostgreSQL knows no such name.</summary>
    public static string? Resolve(string name)
    {
        Span<char> clean = stackalloc char[Math.Min(name.Length, 64)];
        var length = 0;
        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c))
            {
                continue;
            }

            if (length == clean.Length)
            {
                return null;
            }

            clean[length++] = char.ToLowerInvariant(c);
        }

        var lookup = Names.GetAlternateLookup<ReadOnlySpan<char>>();
        return lookup.TryGetValue(clean[..length], out var canonical) ? canonical : null;
    }

    /// <summary>Null when Gatehouse can analyze SQL in this client encoding; otherwise why not, to show the client.</summary>
    public static string? Problem(string name)
    {
        var canonical = Resolve(name);
        if (canonical is null)
        {
            return $"client encoding \"{Printable(name)}\" is not one Gatehouse knows; use UTF8";
        }

        if (Unsafe.Contains(canonical))
        {
            return $"client encoding \"{Printable(name)}\" ({canonical}) is not supported through Gatehouse: its multibyte characters can contain ASCII bytes; use UTF8";
        }

        return TextEncoding(canonical) is null
            ? $"client encoding \"{Printable(name)}\" ({canonical}) is not supported through Gatehouse: it cannot read text in it as the server does; use UTF8"
            : null;
    }

    private static string Printable(string value)
    {
        var cut = value.Length > 40 ? value[..40] + "…" : value;
        return string.Concat(cut.Select(c => char.IsControl(c) || c == '"' ? '?' : c));
    }
}
