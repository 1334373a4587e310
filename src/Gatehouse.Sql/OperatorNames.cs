namespace Gatehouse.Sql;

/// <summary>
/// The operators and cast target types a statement uses, as written: <c>a @@@ b</c> gives <c>@@@</c>,
/// <c>OPERATOR(s.||)</c> gives <c>s.||</c>, <c>LIKE</c> gives <c>~~</c> (PostgreSQL runs it as that operator, looked
/// up like any other), <c>x::t</c> and <c>CAST(x AS t)</c> give the type <c>t</c>. An operator is a call of its
/// function and a cast of its cast function; for one a DBA made over a SQL or PL/pgSQL function that may read
/// anything, so masking looks them up in the catalog as it looks up called functions.
/// </summary>
public static class OperatorNames
{
    /// <summary>The statement's distinct operators (explicit and those its keywords stand for) and the types it casts to
    /// (<c>::t</c>, <c>CAST(… AS t)</c>), in one pass over its text.</summary>
    public static (IReadOnlyList<QualifiedName> Operators, IReadOnlyList<QualifiedName> Casts) Of(string sql, StatementFacts facts)
    {
        var text = sql.AsSpan(facts.Start, facts.Length);
        var operators = new List<QualifiedName>();
        var casts = new List<QualifiedName>();
        var lexer = new SqlLexer(text, standardConformingStrings: true);
        // The last name read (for OPERATOR(schema.op) and schema.type), whether a "." followed it, and what the
        // previous tokens make the next name: a cast's type after "::" or after AS inside CAST( … ).
        string? last = null;
        bool dotted = false, castNext = false, not = false;
        int depth = 0;
        var castDepths = new Stack<int>();
        bool castWord = false;
        while (lexer.Next(out var token))
        {
            switch (token.Kind)
            {
                case TokenKind.Operator:
                    Add(operators, new QualifiedName(dotted ? last : null, text.Slice(token.Start, token.Length).ToString()));
                    break;
                case TokenKind.TypeCast:
                    castNext = true;
                    break;
                case TokenKind.LParen:
                    depth++;
                    if (castWord)
                    {
                        castDepths.Push(depth);
                    }

                    break;
                case TokenKind.RParen:
                    if (castDepths.Count > 0 && castDepths.Peek() == depth)
                    {
                        castDepths.Pop();
                    }

                    depth--;
                    break;
                case TokenKind.Word or TokenKind.QuotedIdent or TokenKind.UnicodeIdent:
                    string? name = Names.Normalize(text, token);
                    if (name is null)
                    {
                        break;
                    }

                    if (token.Kind == TokenKind.Word)
                    {
                        switch (name)
                        {
                            case "like":
                                Add(operators, new QualifiedName(null, not ? "!~~" : "~~"));
                                break;
                            case "ilike":
                                Add(operators, new QualifiedName(null, not ? "!~~*" : "~~*"));
                                break;
                            case "similar":
                                Add(operators, new QualifiedName(null, "~"));
                                break;
                            case "between":
                                Add(operators, new QualifiedName(null, "<="));
                                Add(operators, new QualifiedName(null, ">="));
                                break;
                            case "in" or "any" or "some" or "all" or "case" or "distinct" or "nullif":
                                Add(operators, new QualifiedName(null, "="));
                                Add(operators, new QualifiedName(null, "<>"));
                                break;
                            case "as" when castDepths.Count > 0 && castDepths.Peek() == depth:
                                castNext = true;
                                last = null;
                                not = false;
                                castWord = false;
                                continue;
                        }
                    }

                    if (castNext)
                    {
                        // A qualified type (schema.type) replaces the entry when its second part arrives.
                        Add(casts, new QualifiedName(dotted ? last : null, name));
                        castNext = dotted;
                    }

                    not = token.Kind == TokenKind.Word && name == "not";
                    castWord = token.Kind == TokenKind.Word && name == "cast";
                    last = name;
                    dotted = false;
                    continue;
                case TokenKind.Dot:
                    dotted = last is not null;
                    if (dotted && casts.Count > 0 && casts[^1].Schema is null && casts[^1].Name == last)
                    {
                        casts.RemoveAt(casts.Count - 1);
                        castNext = true;
                    }

                    continue;
            }

            last = null;
            dotted = false;
            not = false;
            castWord = false;
            if (token.Kind is not TokenKind.TypeCast)
            {
                castNext = false;
            }
        }

        return (operators, casts);
    }

    private static void Add(List<QualifiedName> names, QualifiedName name)
    {
        if (!names.Contains(name))
        {
            names.Add(name);
        }
    }
}
