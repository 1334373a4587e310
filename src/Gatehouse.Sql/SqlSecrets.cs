using System.Text;
using System.Text.RegularExpressions;

namespace Gatehouse.Sql;

/// <summary>
/// Takes secrets out of SQL before it is recorded or shown to a reviewer, without ever hiding code. Any literal that
/// code can reach may be run as SQL (EXECUTE of a typed literal or of a concatenation, a user function's argument, a
/// value cut out of a longer string), so a secret's literal is rewritten only in statements whose grammar has no
/// expressions at all: <c>CREATE|ALTER ROLE|USER|GROUP</c> (the literal after <c>PASSWORD</c>) and <c>CREATE|ALTER
/// SERVER|USER MAPPING</c> (a <c>password</c>/<c>sslpassword</c> option's value); and in comments. Any other text that
/// holds a secret (a connection string's or URI's password, a JWT, a PASSWORD literal in a DO block or an EXECUTE
/// string) is withheld whole, saying so; a bound value that holds one is withheld whole too. Four red-team rounds on
/// 2026-12-03 showed that every narrower rewrite could be turned into code a reviewer did not see.
/// </summary>
public static partial class SqlSecrets
{
    private const string Marker = "[redacted]";
    private const string RedactedLiteral = "'" + Marker + "'";

    // Literal values are looked into this deep for a secret (a DO block's EXECUTE of a query_to_xml is three).
    private const int MaxDepth = 6;

    /// <summary>
    /// A statement's text with its secrets redacted where that cannot change what runs, or withheld whole (a marker
    /// with its length) when a secret sits anywhere else.
    /// </summary>
    public static string ScrubSql(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        if (!MayHoldSecret(sql))
        {
            return sql;
        }

        return Scrub(sql) ?? $"[withheld: the statement holds a secret that cannot be taken out without hiding code ({sql.Length} characters)]";
    }

    /// <summary>
    /// A bound value: withheld whole when it holds a secret. It may be spliced into code (EXECUTE of a concatenation),
    /// so no part of it is rewritten: a reviewer sees the value or that it was withheld, never a value with a hole.
    /// </summary>
    public static string ScrubValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        bool secret = MayHoldSecret(value) && ValueHoldsSecret(value, 0);
        return secret ? $"[withheld: the value holds a secret ({value.Length} characters)]" : value;
    }

    /// <summary>Text that never runs (a server's message): every password and token pattern anywhere in it.</summary>
    public static string ScrubText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return MayHoldSecret(text) ? ScrubFreeText(text) : text;
    }

    // Cheap checks first: this runs on every statement.
    // One vectorized pass for every needle (U&"p\0061ssword" spells a name with escapes); a false hit costs a lexing.
    private static bool MayHoldSecret(string text) => text.AsSpan().ContainsAny(Needles);

    private static readonly System.Buffers.SearchValues<string> Needles =
        System.Buffers.SearchValues.Create(["password", "eyJ", "://", "U&"], StringComparison.OrdinalIgnoreCase);

    // The text with the secrets of expression-free statements and comments redacted; null when a secret sits where
    // redacting it could hide code (the caller withholds the whole text).
    private static string? Scrub(string sql)
    {
        if (sql.Contains('\\'))
        {
            // A backslash is where the two readings of standard_conforming_strings part: a rewrite could make the text
            // read as another program under the setting a reviewer assumes. Look for a secret, rewrite nothing.
            return ValueHoldsSecret(sql, 0) ? null : sql;
        }

        var mode = StringMode.Standard;

        var lexer = new SqlLexer(sql, standardConformingStrings: true);
        StringBuilder? output = null;
        int copied = 0, gapStart = 0, position = 0;
        bool inert = false, afterPassword = false;
        string? first = null;
        while (lexer.Next(out var token))
        {
            if (!ScrubComments(ref output, sql, ref copied, gapStart, token.Start))
            {
                return null;
            }

            gapStart = token.End;
            if (token.Kind == TokenKind.Error)
            {
                // An unterminated literal or comment: the server runs nothing of the text.
                if (token.End != sql.Length)
                {
                    afterPassword = false;
                    continue;
                }

                // Rewritten, it must still be unterminated: a closed literal or comment would show a text that runs.
                var rest = ScrubFreeText(sql[token.Start..]);
                if (afterPassword || (rest != sql[token.Start..] && !Unterminated(rest)))
                {
                    return null;
                }

                Replace(ref output, sql, ref copied, token.Start, sql.Length, rest);
                break;
            }

            if (token.Kind == TokenKind.Semicolon)
            {
                (position, inert, first, afterPassword) = (0, false, null, false);
                continue;
            }

            // The statement's first words, adjacent: CREATE|ALTER then ROLE|USER|GROUP|SERVER (USER MAPPING included).
            if (position == 0 && token.Kind == TokenKind.Word)
            {
                first = sql.Substring(token.Start, token.Length);
            }
            else if (position == 1 && first is not null && token.Kind == TokenKind.Word
                && (first.Equals("create", StringComparison.OrdinalIgnoreCase) || first.Equals("alter", StringComparison.OrdinalIgnoreCase)))
            {
                var second = sql.AsSpan(token.Start, token.Length);
                inert = second.Equals("role", StringComparison.OrdinalIgnoreCase) || second.Equals("user", StringComparison.OrdinalIgnoreCase)
                    || second.Equals("group", StringComparison.OrdinalIgnoreCase) || second.Equals("server", StringComparison.OrdinalIgnoreCase);
            }

            position++;
            if (IsLiteral(token.Kind))
            {
                if (afterPassword && inert)
                {
                    Replace(ref output, sql, ref copied, token.Start, token.End, RedactedLiteral);
                }
                else if (afterPassword || LiteralHoldsSecret(sql, token, mode, 0))
                {
                    return null; // a secret where code may reach it
                }
            }

            afterPassword = token.IsName && IsPasswordName(sql, token);
        }

        if (copied < sql.Length && !ScrubComments(ref output, sql, ref copied, Math.Max(gapStart, copied), sql.Length))
        {
            return null;
        }

        return output is null ? sql : output.Append(sql, copied, sql.Length - copied).ToString();
    }

    private static bool IsLiteral(TokenKind kind) => kind is TokenKind.String or TokenKind.EscapeString or TokenKind.UnicodeString or TokenKind.DollarString;

    // A literal whose value holds a secret: a connection string's or URI's password, a JWT, or (read as SQL) a
    // PASSWORD literal or another literal that does. A literal whose value is not certain is searched as text.
    private static bool LiteralHoldsSecret(string sql, in SqlToken token, StringMode mode, int depth)
    {
        var value = Literals.Value(sql, token, mode) ?? sql.Substring(token.Start, token.Length);
        return MayHoldSecret(value) && ValueHoldsSecret(value, depth + 1);
    }

    private static bool ValueHoldsSecret(string value, int depth)
    {
        if (ScrubFreeText(value) != value || WholeSecret(value) is not null)
        {
            return true;
        }

        if (depth >= MaxDepth)
        {
            return false;
        }

        var mode = Lexing.Choose(value, out _);
        var lexer = new SqlLexer(value, standardConformingStrings: mode != StringMode.Escape);
        bool afterPassword = false;
        while (lexer.Next(out var token))
        {
            if (IsLiteral(token.Kind) && (afterPassword || LiteralHoldsSecret(value, token, mode, depth)))
            {
                return true;
            }

            afterPassword = token.IsName && IsPasswordName(value, token);
        }

        return false;
    }

    // Between two tokens there are only blanks and comments, and nothing in them runs; but a pattern may span two
    // comments or the line break that ends one ("--password = '⏎/* ' */ ; DELETE …" lost its line break, and the
    // DELETE read as part of the comment). A scrubbed gap is kept only if it still ends exactly where the code resumes.
    // False when a comment holds a secret that cannot be taken out of it this way (the caller withholds the text).
    private static bool ScrubComments(ref StringBuilder? output, string sql, ref int copied, int start, int end)
    {
        var gap = sql.AsSpan(start, end - start);
        if (gap.Length == 0 || !gap.ContainsAny('-', '/'))
        {
            return true;
        }

        var comment = ScrubFreeText(gap.ToString());
        if (gap.SequenceEqual(comment))
        {
            return true;
        }

        if (!OnlyTrivia(comment, atEnd: end == sql.Length))
        {
            return false; // the pattern ran past the comment's end ("/*password=x*/")
        }

        Replace(ref output, sql, ref copied, start, end, comment);
        return true;
    }

    // The text is one unterminated literal or comment, as it was.
    private static bool Unterminated(string text)
    {
        var lexer = new SqlLexer(text, standardConformingStrings: true);
        return lexer.Next(out var token) && token.Kind == TokenKind.Error && token.Start == 0 && token.End == text.Length;
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

    // A value that is, as a whole, a connection string or a connection URI: its password redacted.
    private static string? WholeSecret(string value)
    {
        var trimmed = value.AsSpan().Trim();
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
                while (i < text.Length && !IsBlank(text[i]))
                {
                    i += text[i] == '\\' ? 2 : 1; // a backslash escapes the next character: abc\ def is one value
                }

                i = Math.Min(i, text.Length);
            }

            if (secret && i > value)
            {
                passwords.Add((value, i));
            }

            pairs++;
        }
    }

    // What libpq takes for a blank (isspace in the C locale): U+00A0 is part of a value.
    private static bool IsBlank(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v';

    private static int SkipBlanks(string text, int i)
    {
        while (i < text.Length && IsBlank(text[i]))
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

    // The password of every scheme://user:password@host in the text (found without a regex: linear whatever the input).
    private static string UriPasswords(string text)
    {
        StringBuilder? output = null;
        int copied = 0;
        for (int at = text.IndexOf("://", StringComparison.Ordinal); at >= 0; at = text.IndexOf("://", at + 3, StringComparison.Ordinal))
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
            // libpq ends the user information at '@' or '/' only: a password may hold '?' or '#'.
            while (end < text.Length && text[end] is not ('/' or '@') && !char.IsWhiteSpace(text[end]))
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

    // A JWT/JWS/JWE: base64url segments joined by dots, the first a JSON object ("eyJ" is base64 of {").
    [GeneratedRegex(@"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,3}")]
    private static partial Regex Jwt();
}
