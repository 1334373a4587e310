using System.Text;
using System.Text.RegularExpressions;

namespace Gatehouse.Sql;

/// <summary>
/// Takes secrets out of SQL before it is recorded or shown to a reviewer: the literal after a <c>PASSWORD</c> keyword
/// or a <c>password</c> option name (<c>OPTIONS (password '…')</c>), a connection string's or URI's password when a
/// literal is one (dblink, postgres_fdw), and JWT-shaped tokens (an agent's own bearer token).
/// <para>
/// It never hides code. The text is read with the lexer, under the reading the analyzer uses, and only the value of a
/// string literal is ever rewritten; a literal's value is read as SQL again (a DO body, an EXECUTE string,
/// query_to_xml's argument), so its code stays as well. Comments may be scrubbed freely: nothing in them runs. An
/// earlier scrubber worked on the raw text and could be made to swallow the code after a crafted comment, so a reviewer
/// approved, and the trail recorded, a statement whose DELETE it did not show.
/// </para>
/// </summary>
public static partial class SqlSecrets
{
    private const string Marker = "[redacted]";
    private const string RedactedLiteral = "'" + Marker + "'";

    // Literals nested deeper than this are left as they are (a DO block's EXECUTE of a query_to_xml is three).
    private const int MaxDepth = 6;

    /// <summary>A statement's text with its secrets replaced by <c>[redacted]</c>; every token other than a literal's value is kept.</summary>
    public static string ScrubSql(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        return MayHoldSecret(sql) ? Scrub(sql, depth: 0) : sql;
    }

    /// <summary>
    /// A value that is not itself the statement (a bound parameter): a connection string, URI or token as a whole is
    /// redacted; otherwise it is read as SQL, since a parameter may be run as SQL (EXECUTE, query_to_xml).
    /// </summary>
    public static string ScrubValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return MayHoldSecret(value) ? ScrubLiteralValue(value, depth: 0) : value;
    }

    /// <summary>Text that never runs (a server's message): <see cref="ScrubSql"/>, then every password and token pattern anywhere in it.</summary>
    public static string ScrubText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return MayHoldSecret(text) ? ScrubFreeText(Scrub(text, depth: 0)) : text;
    }

    // Cheap checks first: this runs on every statement.
    // One vectorized pass for every needle (U&"p\0061ssword" spells a name with escapes); a false hit costs a lexing.
    private static bool MayHoldSecret(string text) => text.AsSpan().ContainsAny(Needles);

    private static readonly System.Buffers.SearchValues<string> Needles =
        System.Buffers.SearchValues.Create(["password", "eyJ", "://", "U&"], StringComparison.OrdinalIgnoreCase);

    private static string Scrub(string sql, int depth)
    {
        var mode = Lexing.Choose(sql, out bool conflict);
        if (conflict)
        {
            // Two readings of standard_conforming_strings are two different texts (the analyzer refuses such a statement;
            // a literal's value runs under whatever the session set): rewriting either could hide the other's code.
            return sql;
        }

        var lexer = new SqlLexer(sql, standardConformingStrings: mode != StringMode.Escape);
        StringBuilder? output = null;
        int copied = 0;
        int gapStart = 0;
        bool afterPassword = false;
        while (lexer.Next(out var token))
        {
            string? replacement = null;
            ScrubComments(ref output, sql, ref copied, gapStart, token.Start);

            if (token.Kind == TokenKind.Error)
            {
                // An unterminated literal or comment: the server runs nothing of the text, so its rest may be scrubbed as
                // text (after PASSWORD it is the value). Inside a literal's value that is only this lexer's reading.
                if (depth == 0 && token.End == sql.Length)
                {
                    var rest = afterPassword ? RedactedLiteral : ScrubFreeText(sql[token.Start..]);
                    Replace(ref output, sql, ref copied, token.Start, sql.Length, rest);
                    break;
                }

                afterPassword = false;
                gapStart = token.End;
                continue;
            }

            if (token.Kind is TokenKind.String or TokenKind.EscapeString or TokenKind.UnicodeString or TokenKind.DollarString)
            {
                replacement = afterPassword ? RedactedLiteral : ScrubLiteral(sql, token, mode, depth);
            }

            if (replacement is not null)
            {
                Replace(ref output, sql, ref copied, token.Start, token.End, replacement);
            }

            afterPassword = token.IsName && IsPasswordName(sql, token);
            gapStart = token.End;
        }

        if (copied < sql.Length)
        {
            ScrubComments(ref output, sql, ref copied, Math.Max(gapStart, copied), sql.Length);
        }

        // A token-shaped run in code is not redacted: names, dots, minus signs and numbers make one
        // ("… OR p.id > eyJp.id-eyJp.id-0.5" hid a -0.5 that made a DELETE take every row).
        return output is null ? sql : output.Append(sql, copied, sql.Length - copied).ToString();
    }

    // Between two tokens there are only blanks and comments, and nothing in them runs; but a pattern may span two
    // comments or the line break that ends one ("--password = '⏎/* ' */ ; DELETE …" lost its line break, and the
    // DELETE read as part of the comment). A scrubbed gap is kept only if it still ends exactly where the code resumes.
    private static void ScrubComments(ref StringBuilder? output, string sql, ref int copied, int start, int end)
    {
        var gap = sql.AsSpan(start, end - start);
        if (gap.Length > 0 && gap.ContainsAny('-', '/') && ScrubFreeText(gap.ToString()) is var comment && !gap.SequenceEqual(comment)
            && OnlyTrivia(comment, atEnd: end == sql.Length))
        {
            Replace(ref output, sql, ref copied, start, end, comment);
        }
    }

    // The text is blanks and whole comments: a word after it is the first token, right where it was put. At the end of
    // the text a line comment needs no line break.
    private static bool OnlyTrivia(string text, bool atEnd)
    {
        if (atEnd)
        {
            text += "\n";
        }

        var probe = text + " x";
        var lexer = new SqlLexer(probe, standardConformingStrings: true);
        return lexer.Next(out var first) && first.Kind == TokenKind.Word && first.Start == text.Length + 1 && !lexer.Next(out _);
    }

    private static void Replace(ref StringBuilder? output, string sql, ref int copied, int start, int end, string replacement)
    {
        output ??= new StringBuilder(sql.Length);
        output.Append(sql, copied, start - copied).Append(replacement);
        copied = end;
    }

    // PASSWORD, "password", U&"password" (an option name), sslpassword: the next literal is a secret.
    private static bool IsPasswordName(string sql, in SqlToken token) =>
        token.Length <= 32 && Names.Normalize(sql, token) is { } name
        && (name.Equals("password", StringComparison.OrdinalIgnoreCase) || name.Equals("sslpassword", StringComparison.OrdinalIgnoreCase));

    // A literal whose value changed, written again; null when it keeps its text.
    private static string? ScrubLiteral(string sql, in SqlToken token, StringMode mode, int depth)
    {
        if (Literals.Value(sql, token, mode) is not { } value || !MayHoldSecret(value))
        {
            return null;
        }

        var scrubbed = ScrubLiteralValue(value, depth + 1);
        if (ReferenceEquals(scrubbed, value) || scrubbed == value)
        {
            return null;
        }

        if (token.Kind == TokenKind.DollarString)
        {
            var raw = sql.AsSpan(token.Start, token.Length);
            var tag = raw[..(raw[1..].IndexOf('$') + 2)].ToString();
            if ((scrubbed + tag).IndexOf(tag, StringComparison.Ordinal) == scrubbed.Length)
            {
                return tag + scrubbed + tag;
            }
        }

        return Quote(scrubbed);
    }

    private static string ScrubLiteralValue(string value, int depth)
    {
        if (WholeSecret(value) is { } redacted)
        {
            return redacted;
        }

        return depth < MaxDepth ? Scrub(value, depth) : value;
    }

    // A value that is, as a whole, a connection string, a connection URI or a token (no statement is any of them, so
    // rewriting it hides no code): its secret redacted.
    private static string? WholeSecret(string value)
    {
        var trimmed = value.AsSpan().Trim();
        if (WholeToken().IsMatch(trimmed))
        {
            return Jwt().Replace(value, Marker);
        }

        if (ConnectionStringPasswords(value) is { } passwords)
        {
            if (passwords.Count == 0)
            {
                return null;
            }

            StringBuilder? output = null;
            int copied = 0;
            foreach (var (start, end) in passwords)
            {
                Replace(ref output, value, ref copied, start, end, Marker);
            }

            return output!.Append(value, copied, value.Length - copied).ToString();
        }

        if (ConnectionUri().IsMatch(trimmed))
        {
            return ConnectionPassword().Replace(UriPasswords(value), m => m.Groups["lead"].Value + Marker);
        }

        return null;
    }

    // libpq's key = value form, every key a word ("host=db password=x dbname=app", "password = 's e c'"), read in one
    // pass the way libpq reads it: a value is quoted ('…' with \ escapes) or runs to the next blank. The spans of the
    // password and sslpassword values, or null when the text is not one.
    private static List<(int Start, int End)>? ConnectionStringPasswords(string text)
    {
        int i = 0, pairs = 0;
        var passwords = new List<(int Start, int End)>();
        while (true)
        {
            i = SkipBlanks(text, i);
            if (i == text.Length)
            {
                return pairs > 0 ? passwords : null;
            }

            int key = i;
            while (i < text.Length && (char.IsAsciiLetter(text[i]) || text[i] == '_'))
            {
                i++;
            }

            var name = text.AsSpan(key, i - key);
            bool secret = name.Equals("password", StringComparison.OrdinalIgnoreCase) || name.Equals("sslpassword", StringComparison.OrdinalIgnoreCase);
            i = SkipBlanks(text, i);
            if (name.IsEmpty || i == text.Length || text[i] != '=')
            {
                return null;
            }

            int value = i = SkipBlanks(text, i + 1);
            if (i < text.Length && text[i] == '\'')
            {
                for (i++; i < text.Length && text[i] != '\''; i++)
                {
                    if (text[i] == '\\')
                    {
                        i++;
                    }
                }

                if (i >= text.Length)
                {
                    return null;
                }

                i++;
            }
            else
            {
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                {
                    i++;
                }
            }

            if (secret && i > value)
            {
                passwords.Add((value, i));
            }

            pairs++;
        }
    }

    private static int SkipBlanks(string text, int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        return i;
    }

    private static string ScrubFreeText(string text)
    {
        if (text.Contains("password", StringComparison.OrdinalIgnoreCase))
        {
            text = ConnectionPassword().Replace(text, m => m.Groups["lead"].Value + Marker);
            text = LoosePassword().Replace(text, m => m.Groups["lead"].Value + RedactedLiteral);
        }

        text = UriPasswords(text);

        return text.Contains("eyJ", StringComparison.Ordinal) ? Jwt().Replace(text, Marker) : text;
    }

    // A standard literal, or an E'…' one when the value holds a backslash (so it means the same under either setting).
    private static string Quote(string value) => value.Contains('\\')
        ? "E'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'"
        : "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    // The password of every scheme://user:password@host in the text (found without a regex: linear whatever the input).
    private static string UriPasswords(string text)
    {
        StringBuilder? output = null;
        int copied = 0;
        for (int at = text.IndexOf("://", StringComparison.Ordinal); at > 0; at = text.IndexOf("://", at + 3, StringComparison.Ordinal))
        {
            int scheme = at;
            while (scheme > 0 && at - scheme < 40 && (char.IsAsciiLetterOrDigit(text[scheme - 1]) || text[scheme - 1] is '+' or '.' or '-'))
            {
                scheme--;
            }

            if (scheme == at || !char.IsAsciiLetter(text[scheme]))
            {
                continue;
            }

            int colon = -1, end = at + 3;
            while (end < text.Length && text[end] is not ('/' or '?' or '#' or '@') && !char.IsWhiteSpace(text[end]))
            {
                if (text[end] == ':' && colon < 0)
                {
                    colon = end;
                }

                end++;
            }

            if (colon > 0 && end < text.Length && text[end] == '@' && end > colon + 1)
            {
                Replace(ref output, text, ref copied, colon + 1, end, Marker);
            }
        }

        return output is null ? text : output.Append(text, copied, text.Length - copied).ToString();
    }

    [GeneratedRegex(@"(?<lead>(?<![A-Za-z0-9_])(?:ssl)?password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'&]+)", RegexOptions.IgnoreCase)]
    private static partial Regex ConnectionPassword();

    // postgres://user:secret@host/db (any scheme), with nothing else around it.
    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.-]*://\S*$")]
    private static partial Regex ConnectionUri();

    // In a message: PASSWORD 'x' as a server may quote it back.
    [GeneratedRegex(@"(?<lead>\bpassword\s+)'(?:[^']|'')*'", RegexOptions.IgnoreCase)]
    private static partial Regex LoosePassword();

    // A literal that is a token and nothing else, or "Bearer <token>".
    [GeneratedRegex(@"^(?:[Bb]earer\s+)?eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,3}$")]
    private static partial Regex WholeToken();

    // A JWT/JWS/JWE: base64url segments joined by dots, the first a JSON object ("eyJ" is base64 of {").
    [GeneratedRegex(@"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,3}")]
    private static partial Regex Jwt();
}
