namespace Gatehouse.Sql;

/// <summary>The wire format of a COPY … TO STDOUT stream.</summary>
public enum CopyFormat : byte { Text, Csv, Binary }

/// <summary>
/// What masking needs to rewrite a <c>COPY … TO STDOUT</c> stream by column: the table and the columns it lists (null
/// for all of them), or that it copies a query; the format and, for text and CSV, the characters that delimit fields.
/// <see cref="Problem"/> names an option Gatehouse does not rewrite (NULL, DEFAULT, ENCODING…): such a COPY of masked
/// data is refused.
/// </summary>
public sealed record CopyOutShape
{
    public QualifiedName? Table { get; init; }

    /// <summary>Column names as written (folded); null: every column of the table, in attnum order.</summary>
    public IReadOnlyList<string>? Columns { get; init; }

    /// <summary>COPY (query) TO STDOUT: the server does not describe its columns.</summary>
    public bool IsQuery { get; init; }

    public CopyFormat Format { get; init; }

    public char Delimiter { get; init; } = '\t';

    public char Quote { get; init; } = '"';

    public char Escape { get; init; } = '"';

    /// <summary>The first line is a header of column names (text and CSV).</summary>
    public bool Header { get; init; }

    public string? Problem { get; init; }

    /// <summary>The shape of a COPY … TO STDOUT statement of <paramref name="sql"/>, or null when it is not one.</summary>
    public static CopyOutShape? Parse(string sql, StatementFacts facts)
    {
        var text = sql.Substring(facts.Start, facts.Length);
        var tokens = new List<SqlToken>();
        var lexer = new SqlLexer(text, standardConformingStrings: true);
        while (lexer.Next(out var token))
        {
            if (token.Kind == TokenKind.Error)
            {
                return null;
            }

            tokens.Add(token);
        }

        return new Reader(text, tokens).Read();
    }

    private sealed class Reader(string text, List<SqlToken> tokens)
    {
        private readonly string _text = text;
        private int _j;

        private bool AtKw(Kw kw) => _j < tokens.Count && tokens[_j].Is(kw);

        private bool At(TokenKind kind) => _j < tokens.Count && tokens[_j].Kind == kind;

        private string? Word(int j) => j < tokens.Count && tokens[j].IsName ? Names.Normalize(_text, tokens[j]) : null;

        public CopyOutShape? Read()
        {
            if (!AtKw(Kw.Copy))
            {
                return null;
            }

            _j = 1;
            var shape = new CopyOutShape();
            if (Word(_j) == "binary")
            {
                shape = shape with { Format = CopyFormat.Binary };
                _j++;
            }

            if (At(TokenKind.LParen))
            {
                _j = Close(_j);
                shape = shape with { IsQuery = true };
            }
            else
            {
                var first = Word(_j);
                if (first is null)
                {
                    return null;
                }

                _j++;
                if (At(TokenKind.Dot))
                {
                    shape = shape with { Table = Word(_j + 1) is { } second ? new QualifiedName(first, second) : null };
                    _j += 2;
                }
                else
                {
                    shape = shape with { Table = new QualifiedName(null, first) };
                }

                if (At(TokenKind.LParen))
                {
                    var columns = new List<string>();
                    for (_j++; ; _j++)
                    {
                        if (Word(_j) is not { } column)
                        {
                            return null;
                        }

                        columns.Add(column);
                        _j++;
                        if (At(TokenKind.RParen))
                        {
                            break;
                        }

                        if (!At(TokenKind.Comma))
                        {
                            return null;
                        }
                    }

                    _j++;
                    shape = shape with { Columns = columns };
                }
            }

            if (!AtKw(Kw.To) || tokens.Count <= _j + 1 || !tokens[_j + 1].Is(Kw.Stdout))
            {
                return null;
            }

            _j += 2;
            if (AtKw(Kw.With))
            {
                _j++;
            }

            return At(TokenKind.LParen) ? Options(shape) : OldOptions(shape);
        }

        private int Close(int open)
        {
            int depth = 0;
            for (int j = open; j < tokens.Count; j++)
            {
                depth += tokens[j].Kind == TokenKind.LParen ? 1 : tokens[j].Kind == TokenKind.RParen ? -1 : 0;
                if (depth == 0)
                {
                    return j + 1;
                }
            }

            return tokens.Count;
        }

        /// <summary>COPY … (FORMAT csv, HEADER, DELIMITER ',', …).</summary>
        private CopyOutShape Options(CopyOutShape shape)
        {
            int end = Close(_j) - 1;
            for (_j++; _j < end; _j++)
            {
                var name = Word(_j);
                _j++;
                int valueStart = _j;
                while (_j < end && tokens[_j].Kind != TokenKind.Comma)
                {
                    _j = tokens[_j].Kind == TokenKind.LParen ? Close(_j) : _j + 1;
                }

                shape = Apply(shape, name, valueStart, _j);
            }

            return Finish(shape, end + 1);
        }

        /// <summary>The pre-9.0 syntax: COPY … TO STDOUT [WITH] CSV HEADER DELIMITER AS ',' …</summary>
        private CopyOutShape OldOptions(CopyOutShape shape)
        {
            while (_j < tokens.Count)
            {
                var name = Word(_j);
                _j++;
                if (name == "force")
                {
                    // FORCE QUOTE col, … | * : only changes which values are quoted.
                    _j++;
                    while (_j < tokens.Count && (tokens[_j].IsName || tokens[_j].Kind is TokenKind.Comma || tokens[_j].Kind == TokenKind.Operator && _text[tokens[_j].Start] == '*'))
                    {
                        _j++;
                    }

                    continue;
                }

                if (name is "delimiter" or "null" or "quote" or "escape" && AtKw(Kw.As))
                {
                    _j++;
                }

                int start = _j;
                if (name is "delimiter" or "null" or "quote" or "escape")
                {
                    _j++;
                }

                shape = Apply(shape, name is "csv" ? "format" : name is "binary" ? "format" : name, start, _j, name is "csv" or "binary" ? name : null);
            }

            return Finish(shape, tokens.Count);
        }

        private CopyOutShape Apply(CopyOutShape shape, string? name, int from, int to, string? implied = null)
        {
            string? Value() => implied ?? (to - from == 1 ? tokens[from].IsName ? Names.Normalize(_text, tokens[from]) : Literals.Value(_text, tokens[from], StringMode.Ambiguous) : null);
            char? OneChar() => Value() is { Length: 1 } v && v[0] < 0x80 ? v[0] : null;
            switch (name)
            {
                case "format":
                    return Value() switch
                    {
                        "text" => shape with { Format = CopyFormat.Text },
                        "csv" => shape with { Format = CopyFormat.Csv },
                        "binary" => shape with { Format = CopyFormat.Binary },
                        _ => shape with { Problem = "an unknown COPY format" },
                    };
                case "header":
                    return to == from || Literals.ParseBool(Value() ?? "") is true ? shape with { Header = true }
                        : Literals.ParseBool(Value() ?? "") is false ? shape : shape with { Problem = "a HEADER value other than true or false" };
                case "delimiter" when OneChar() is { } d:
                    return shape with { Delimiter = d, DelimiterSet = true };
                case "quote" when OneChar() is { } q:
                    return shape with { Quote = q };
                case "escape" when OneChar() is { } e:
                    return shape with { Escape = e, EscapeSet = true };
                case "force_quote":
                    return shape;
                case "delimiter" or "quote" or "escape":
                    return shape with { Problem = shape.Problem ?? $"a {name.ToUpperInvariant()} value Gatehouse cannot read (one ASCII character; write a backslash as E'\\\\')" };
                default:
                    return shape with { Problem = shape.Problem ?? $"the COPY option {name?.ToUpperInvariant() ?? "?"}" };
            }
        }

        private CopyOutShape Finish(CopyOutShape shape, int end)
        {
            if (end < tokens.Count)
            {
                return shape with { Problem = shape.Problem ?? "text after the COPY options" };
            }

            if (shape is { Format: CopyFormat.Csv, EscapeSet: false })
            {
                shape = shape with { Escape = shape.Quote };
            }

            if (shape is { Format: CopyFormat.Csv, DelimiterSet: false })
            {
                shape = shape with { Delimiter = ',' };
            }

            if (shape.Format == CopyFormat.Csv && shape.Delimiter is '\r' or '\n' || shape.Format == CopyFormat.Text && shape.Delimiter is '\\' or '\r' or '\n')
            {
                return shape with { Problem = "that DELIMITER" };
            }

            return shape;
        }
    }

    private bool EscapeSet { get; init; }

    private bool DelimiterSet { get; init; }
}
