using System.Text;
using System.Text.RegularExpressions;

namespace Gatehouse.Sql;

/// <summary>
/// Takes secrets out of SQL before it is recorded or shown to a reviewer, without ever hiding code. Any literal may be
/// run as SQL where code can reach it (EXECUTE of a typed literal, a concatenation, a user function's argument), so a
/// secret is redacted only where the grammar has no expressions: the literal after <c>PASSWORD</c> in a role statement,
/// a <c>password</c> value in an <c>OPTIONS (…)</c> list, the password in dblink's connection argument, a literal that
/// is a JWT and nothing else, and comments. The text is read with the analyzer's lexer, only literal values and
/// comments are rewritten (a literal's value is read as SQL again: DO bodies, EXECUTE strings), and the result is
/// checked against the original under both readings of standard_conforming_strings; a text that fails the check is
/// withheld whole, as is a bound value that holds a secret. Three red-team rounds (2026-12-03) shaped these rules: a
/// raw-text scrubber let a crafted comment hide a DELETE from the reviewer who approved it.
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
        if (!MayHoldSecret(sql))
        {
            return sql;
        }

        // Checked after the fact, under both readings: a rewrite that changed anything but a secret's literal or a
        // comment (a quote gluing onto a word, another reading of the text, a value that is code) withholds the text.
        var scrubbed = Scrub(sql, depth: 0);
        return scrubbed == sql || SameCode(sql, scrubbed, depth: 0) ? scrubbed
            : $"[withheld: the statement holds a secret that cannot be taken out without changing its code ({sql.Length} characters)]";
    }

    /// <summary>
    /// A bound value: withheld whole when it holds a secret. It may be spliced into code (EXECUTE of a concatenation),
    /// so no part of it is rewritten: a reviewer sees the value or that it was withheld, never a value with a hole.
    /// </summary>
    public static string ScrubValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        bool secret = MayHoldSecret(value) && (IsWholeToken(value) || WholeSecret(value) is not null || ScrubFreeText(value) != value || Scrub(value, depth: 0) != value);
        return secret ? $"[withheld: the value holds a secret ({value.Length} characters)]" : value;
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
        var context = new Context();
        StringBuilder? output = null;
        int copied = 0;
        int gapStart = 0;
        bool afterPassword = false;
        SqlToken previous = default;
        while (lexer.Next(out var token))
        {
            string? replacement = null;
            ScrubComments(ref output, sql, ref copied, gapStart, token.Start);

            if (token.Kind == TokenKind.Error)
            {
                // An unterminated literal or comment at the end of a statement: the server runs nothing of it, so its
                // rest may be scrubbed as text (after PASSWORD it is the value). Inside a literal's value that is only
                // this lexer's reading, and a bound value may be spliced into code: neither is touched.
                if (depth == 0 && token.End == sql.Length)
                {
                    var rest = afterPassword ? RedactedLiteral : ScrubFreeText(sql[token.Start..]);
                    Replace(ref output, sql, ref copied, token.Start, sql.Length, rest);
                    break;
                }

                afterPassword = false;
                gapStart = token.End;
                previous = token;
                continue;
            }

            if (token.Kind is TokenKind.String or TokenKind.EscapeString or TokenKind.UnicodeString or TokenKind.DollarString)
            {
                replacement = afterPassword ? RedactedLiteral
                    : context.ConnectionArgument(sql, previous) ? ScrubConnectionLiteral(sql, token, mode)
                    : ScrubLiteral(sql, token, mode, depth);
            }

            if (replacement is not null)
            {
                Replace(ref output, sql, ref copied, token.Start, token.End, replacement);
            }

            afterPassword = token.IsName && IsPasswordName(sql, token) && context.PasswordIsInert(sql, previous);
            context.Step(sql, token);
            gapStart = token.End;
            previous = token;
        }

        if (copied < sql.Length)
        {
            ScrubComments(ref output, sql, ref copied, Math.Max(gapStart, copied), sql.Length);
        }

        // A token-shaped run in code is not redacted: names, dots, minus signs and numbers make one
        // ("… OR p.id > eyJp.id-eyJp.id-0.5" hid a -0.5 that made a DELETE take every row).
        return output is null ? sql : output.Append(sql, copied, sql.Length - copied).ToString();
    }

    /// <summary>
    /// Where a literal's value cannot be code. A literal may be run as SQL wherever code can reach it (an EXECUTE of a
    /// typed literal <c>pg_temp.password 'DELETE …'</c>, a concatenation, a user function's argument), so a secret is
    /// redacted only in places whose grammar has no expressions: a role statement's <c>PASSWORD</c>
    /// (<c>CREATE|ALTER ROLE|USER|GROUP</c>), an <c>OPTIONS (…)</c> list's value, and the connection argument of
    /// dblink's functions.
    /// </summary>
    private sealed class Context
    {
        private static readonly HashSet<string> ConnectionFunctions = new(StringComparer.OrdinalIgnoreCase)
        {
            "dblink", "dblink_connect", "dblink_connect_u", "dblink_exec", "dblink_send_query", "dblink_open",
        };

        private static readonly HashSet<string> BlockWords = new(StringComparer.OrdinalIgnoreCase)
        {
            "begin", "declare", "then", "else", "loop",
        };

        // The words the current statement began with (up to three), and the parentheses open at this level.
        private readonly List<string> _first = [];
        private readonly Stack<(bool Options, bool Connection, int Argument)> _parens = new();
        private bool _optionsNext;
        private bool _connectionNext;

        public void Step(string sql, in SqlToken token)
        {
            var text = sql.AsSpan(token.Start, token.Length);
            switch (token.Kind)
            {
                case TokenKind.Semicolon:
                    _first.Clear();
                    _parens.Clear();
                    break;
                case TokenKind.LParen:
                    _parens.Push((_optionsNext, _connectionNext, 0));
                    break;
                case TokenKind.RParen:
                    _parens.TryPop(out _);
                    break;
                case TokenKind.Comma when _parens.TryPop(out var open):
                    _parens.Push((open.Options, open.Connection, open.Argument + 1));
                    break;
                case TokenKind.Word when _first.Count < 3 && _parens.Count == 0:
                    if (_first.Count == 0 && BlockWords.Contains(text.ToString()))
                    {
                        break; // plpgsql: BEGIN ALTER ROLE …; IF … THEN ALTER ROLE …
                    }

                    _first.Add(text.ToString().ToLowerInvariant());
                    break;
            }

            _optionsNext = token.Kind == TokenKind.Word && text.Equals("options", StringComparison.OrdinalIgnoreCase);
            _connectionNext = token.Kind == TokenKind.Word && ConnectionFunctions.Contains(text.ToString());
        }

        // PASSWORD in a role statement, or a password option's name in an OPTIONS list (after "(", ",", ADD or SET).
        public bool PasswordIsInert(string sql, in SqlToken previous)
        {
            if (_parens.Count == 0)
            {
                return _first.Count >= 2 && _first[0] is "create" or "alter" && _first[1] is "role" or "user" or "group"
                    && !(_first.Count >= 3 && _first[2] == "mapping");
            }

            var open = _parens.Peek();
            return open.Options && _parens.Count == 1
                && (previous.Kind is TokenKind.LParen or TokenKind.Comma
                    || (previous.Kind == TokenKind.Word && (sql.AsSpan(previous.Start, previous.Length).Equals("add", StringComparison.OrdinalIgnoreCase)
                        || sql.AsSpan(previous.Start, previous.Length).Equals("set", StringComparison.OrdinalIgnoreCase))));
        }

        // A literal that is the whole first or second argument of a dblink function (the connection string or name).
        public bool ConnectionArgument(string sql, in SqlToken previous) =>
            _parens.TryPeek(out var open) && open.Connection && open.Argument <= 1 && previous.Kind is TokenKind.LParen or TokenKind.Comma;
    }

    // A connection argument: a connection string or URI as a whole has its password redacted.
    private static string? ScrubConnectionLiteral(string sql, in SqlToken token, StringMode mode)
    {
        if (Literals.Value(sql, token, mode) is not { } value || WholeSecret(value) is not { } scrubbed || scrubbed == value)
        {
            return null;
        }

        return Requote(sql, token, scrubbed);
    }

    // Both texts lex to the same tokens under both readings of standard_conforming_strings, but for literals whose
    // value is a redaction the rules put there, or (read as SQL again) has the same code. An error token running to
    // the end of the statement ends the comparison: the server runs nothing of such a text.
    private static bool SameCode(string before, string after, int depth)
    {
        foreach (bool scs in (ReadOnlySpan<bool>)[true, false])
        {
            var a = new SqlLexer(before, scs);
            var b = new SqlLexer(after, scs);
            var mode = scs ? StringMode.Standard : StringMode.Escape;
            while (true)
            {
                bool hasA = a.Next(out var x), hasB = b.Next(out var y);
                if (!hasA || !hasB)
                {
                    if (hasA != hasB)
                    {
                        return false;
                    }

                    break;
                }

                if (x.Kind == TokenKind.Error && x.End == before.Length && depth == 0)
                {
                    break;
                }

                var textA = before.AsSpan(x.Start, x.Length);
                var textB = after.AsSpan(y.Start, y.Length);
                if (x.Kind == y.Kind && textA.SequenceEqual(textB))
                {
                    continue;
                }

                if (!IsLiteral(x.Kind) || !IsLiteral(y.Kind))
                {
                    return false; // a literal may be written again in another quoting; nothing else may change
                }

                if (textB.SequenceEqual(RedactedLiteral))
                {
                    continue; // a password's literal (only where the grammar has no expressions)
                }

                var valueA = Literals.Value(before, x, mode);
                var valueB = Literals.Value(after, y, mode);
                if (valueA is null || valueB is null)
                {
                    return false;
                }

                bool redaction = valueB == Marker ? IsWholeToken(valueA) : WholeSecret(valueA) == valueB;
                if (!redaction && (depth >= MaxDepth || !SameCode(valueA, valueB, depth + 1)))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static bool IsLiteral(TokenKind kind) => kind is TokenKind.String or TokenKind.EscapeString or TokenKind.UnicodeString or TokenKind.DollarString;

    // A JWT and nothing else (or "Bearer <JWT>"): its header and payload are base64url JSON objects, which code is not.
    private static bool IsWholeToken(string value)
    {
        var trimmed = value.AsSpan().Trim();
        if (!WholeToken().IsMatch(trimmed))
        {
            return false;
        }

        var token = trimmed[(trimmed.IndexOf("eyJ", StringComparison.Ordinal))..];
        int dot = token.IndexOf('.');
        int second = token[(dot + 1)..].IndexOf('.');
        return second > 0 && IsJsonObject(token[..dot]) && IsJsonObject(token.Slice(dot + 1, second));
    }

    private static bool IsJsonObject(ReadOnlySpan<char> base64Url)
    {
        var text = base64Url.ToString().Replace('-', '+').Replace('_', '/');
        text = text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '=');
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(Convert.FromBase64String(text));
            return json.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object;
        }
        catch (Exception ex) when (ex is FormatException or System.Text.Json.JsonException)
        {
            return false;
        }
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

    // A literal whose value changed, written again; null when it keeps its text. Its value is read as SQL (it may be
    // run as SQL); a value that is a token and nothing else is redacted whole.
    private static string? ScrubLiteral(string sql, in SqlToken token, StringMode mode, int depth)
    {
        if (Literals.Value(sql, token, mode) is not { } value || !MayHoldSecret(value))
        {
            return null;
        }

        var scrubbed = IsWholeToken(value) ? Marker : depth < MaxDepth ? Scrub(value, depth + 1) : value;
        return scrubbed == value ? null : Requote(sql, token, scrubbed);
    }

    // The literal written again with its new value: with its dollar tag when that still closes it, else as '…' or
    // E'…'. A literal glued to the word before it ("DO'…'", "text'…'") gets a blank first: E'…' would change the word.
    private static string Requote(string sql, in SqlToken token, string value)
    {
        if (token.Kind == TokenKind.DollarString)
        {
            var raw = sql.AsSpan(token.Start, token.Length);
            var tag = raw[..(raw[1..].IndexOf('$') + 2)].ToString();
            if ((value + tag).IndexOf(tag, StringComparison.Ordinal) == value.Length)
            {
                return tag + value + tag;
            }
        }

        var quoted = Quote(value);
        return quoted[0] == 'E' && token.Start > 0 && !char.IsWhiteSpace(sql[token.Start - 1]) ? " " + quoted : quoted;
    }

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

    // A standard literal, or an E'…' one when the value holds a backslash (so it means the same under either setting).
    private static string Quote(string value) => value.Contains('\\')
        ? "E'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'"
        : "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

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

    // A literal that is a token and nothing else, or "Bearer <token>".
    [GeneratedRegex(@"^(?:[Bb]earer\s+)?eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,3}$")]
    private static partial Regex WholeToken();

    // A JWT/JWS/JWE: base64url segments joined by dots, the first a JSON object ("eyJ" is base64 of {").
    [GeneratedRegex(@"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,3}")]
    private static partial Regex Jwt();
}
