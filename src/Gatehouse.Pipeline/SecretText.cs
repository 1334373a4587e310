using System.Text;
using System.Text.RegularExpressions;

namespace Gatehouse.Pipeline;

/// <summary>
/// Takes secrets out of text before it is recorded (SQL, parameters, messages): a role's <c>PASSWORD '…'</c> (also
/// inside a string literal, where its quotes are doubled: a DO block's EXECUTE, query_to_xml), <c>password=…</c> in a
/// connection string (dblink, postgres_fdw options), and JWT-shaped tokens (an agent's own bearer token). Audit records
/// never hold a password or a token, even one an agent sent, whatever the grant's detectors.
/// </summary>
public static partial class SecretText
{
    private const string Marker = "[redacted]";

    public static string Scrub(string sql)
    {
        // Cheap checks first: this runs on every statement.
        bool password = sql.Contains("password", StringComparison.OrdinalIgnoreCase);
        bool token = sql.Contains("eyJ", StringComparison.Ordinal);
        if (!password && !token)
        {
            return sql;
        }

        if (password)
        {
            sql = ScrubRolePasswords(sql);
            sql = ConnectionPassword().Replace(sql, m => m.Groups["lead"].Value + Marker);
        }

        return token ? Jwt().Replace(sql, Marker) : sql;
    }

    /// <summary>The literal after each <c>PASSWORD</c> keyword, whatever its quoting and nesting, becomes the marker.</summary>
    private static string ScrubRolePasswords(string sql)
    {
        StringBuilder? output = null;
        int copied = 0;
        for (var m = RolePasswordLead().Match(sql); m.Success; m = RolePasswordLead().Match(sql, Math.Max(m.Index + m.Length, copied)))
        {
            int start = m.Index + m.Length;
            if (LiteralAt(sql, start, m.Index) is not { } literal)
            {
                continue;
            }

            output ??= new StringBuilder(sql.Length);
            output.Append(sql, copied, start - copied).Append(literal.Quote).Append(Marker).Append(literal.Quote);
            copied = literal.End;
        }

        return output is null ? sql : output.Append(sql, copied, sql.Length - copied).ToString();
    }

    /// <summary>
    /// The end of the string literal at <paramref name="start"/> and the quote its replacement is written with, or null
    /// when none starts there. A run of an even number of quotes followed by a value is a literal nested in another one
    /// (<c>'ALTER ROLE m PASSWORD ''x'''</c>): its quote is that run, and twice that run an escaped quote; so is an even
    /// run at a keyword inside a literal (odd quotes before it). An unterminated literal runs to the end (fail closed).
    /// </summary>
    private static (int End, string Quote)? LiteralAt(string sql, int start, int keyword)
    {
        int i = start;
        if (i < sql.Length && sql[i] == '$')
        {
            var tag = DollarTag().Match(sql, i);
            if (!tag.Success)
            {
                return null;
            }

            int close = sql.IndexOf(tag.Value, i + tag.Length, StringComparison.Ordinal);
            return (close < 0 ? sql.Length : close + tag.Length, "'");
        }

        bool backslashes = false;
        if (i < sql.Length && sql[i] is 'e' or 'E')
        {
            backslashes = true;
            i++;
        }
        else if (i + 1 < sql.Length && sql[i] is 'u' or 'U' && sql[i + 1] == '&')
        {
            i += 2;
        }

        int run = Run(sql, i);
        if (run == 0)
        {
            return null;
        }

        int unit = 1;
        if (run % 2 == 0)
        {
            bool valueFollows = i + run < sql.Length && !char.IsWhiteSpace(sql[i + run]) && sql[i + run] is not (';' or ',' or ')');
            bool insideLiteral = sql.AsSpan(0, keyword).Count('\'') % 2 == 1;
            if (!valueFollows && !insideLiteral)
            {
                return (i + run, "'"); // an empty literal
            }

            unit = run;
        }

        i += unit;
        while (i < sql.Length)
        {
            char c = sql[i];
            if (backslashes && unit == 1 && c == '\\')
            {
                i += 2;
                continue;
            }

            if (c != '\'')
            {
                i++;
                continue;
            }

            int quotes = Run(sql, i);
            if (quotes >= 2 * unit)
            {
                i += 2 * unit; // an escaped quote at this level
                continue;
            }

            if (quotes >= unit)
            {
                return (i + unit, new string('\'', unit));
            }

            i += quotes; // a quote of a deeper level: part of the value
        }

        return (sql.Length, new string('\'', unit));
    }

    private static int Run(string sql, int i)
    {
        int n = 0;
        while (i + n < sql.Length && sql[i + n] == '\'')
        {
            n++;
        }

        return n;
    }

    // PASSWORD and whatever comes between it and its literal (nothing, blanks, comments).
    [GeneratedRegex(@"\bpassword(?:\s|/\*.*?\*/|--[^\n]*(?:\n|$))*", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex RolePasswordLead();

    [GeneratedRegex(@"\G\$[A-Za-z_]*\$")]
    private static partial Regex DollarTag();

    // password=secret or password = 'secret' inside a connection string.
    [GeneratedRegex(@"(?<lead>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s']+)", RegexOptions.IgnoreCase)]
    private static partial Regex ConnectionPassword();

    // A JWT/JWS/JWE: base64url segments joined by dots, the first a JSON object ("eyJ" is base64 of {").
    [GeneratedRegex(@"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,3}")]
    private static partial Regex Jwt();
}
