using System.Text.RegularExpressions;
using Gatehouse.Sql;

namespace Gatehouse.Pipeline;

/// <summary>
/// Settings that change how the server lexes SQL must stay where the analyzer can follow them. A client
/// encoding whose multibyte characters may end in an ASCII backslash (SJIS, BIG5, GBK, UHC, GB18030, JOHAB),
/// or standard_conforming_strings changed through a function the analyzer cannot see, would make the
/// server split or quote a string differently from the analyzer: those are refused.
/// </summary>
public static partial class SettingGuard
{
    private static readonly HashSet<string> UnsafeEncodings = new(StringComparer.OrdinalIgnoreCase)
    {
        "SJIS", "SHIFT_JIS", "SHIFT_JIS_2004", "BIG5", "GBK", "WIN936", "CP936", "UHC", "WIN949", "GB18030", "JOHAB",
    };

    public static bool IsUnsafeEncoding(string encoding) => UnsafeEncodings.Contains(encoding.Trim().Trim('\'', '"').Replace("-", "_"));

    /// <summary>Returns why the statement is refused, or null.</summary>
    public static string? Check(string sql, StatementFacts facts)
    {
        var text = sql.AsSpan(facts.Start, facts.Length);
        bool mentionsLexingSetting = text.Contains("standard_conforming_strings", StringComparison.OrdinalIgnoreCase)
            || text.Contains("client_encoding", StringComparison.OrdinalIgnoreCase);
        if (mentionsLexingSetting && facts.Functions.Any(f => f.Name == "set_config"))
        {
            return "set_config() may not change standard_conforming_strings or client_encoding; use SET";
        }

        if (facts.Command == "SET" && EncodingAssignment().Match(text.ToString()) is { Success: true } match
            && IsUnsafeEncoding(match.Groups["value"].Value))
        {
            return $"client encoding {match.Groups["value"].Value} is not supported through Gatehouse; use UTF8";
        }

        return null;
    }

    [GeneratedRegex(@"(?:client_encoding\s*(?:=|\bto\b)|\bnames\b)\s*(?<value>'[^']*'|""[^""]*""|[\w-]+)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex EncodingAssignment();
}
