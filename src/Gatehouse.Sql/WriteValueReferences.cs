namespace Gatehouse.Sql;

/// <summary>
/// The names a write statement's values could be computed from, read from its tokens: every identifier in a value
/// position. Not values: the columns it assigns (<c>SET col =</c>, <c>INSERT INTO t (cols)</c>, <c>ON CONFLICT (cols)</c>),
/// relation names after FROM/JOIN/UPDATE/INTO/USING/ONLY, aliases where they are defined, type names after <c>::</c>,
/// and, for a statement without WITH, the top-level WHERE of an UPDATE (it filters, it writes nothing) and the
/// RETURNING list (its columns are masked by origin like any result). A plain DELETE writes no values. The reading
/// over-approximates: a name in doubt is a value, so masking refuses rather than misses.
/// </summary>
public sealed record WriteValueReferences
{
    /// <summary>Identifiers in value positions, folded (columns, qualifiers, and anything else that could be a column).</summary>
    public required IReadOnlySet<string> Names { get; init; }

    /// <summary>Value-position identifiers neither followed nor preceded by a dot: a whole-row reference when one names a
    /// relation or alias.</summary>
    public required IReadOnlySet<string> Bare { get; init; }

    /// <summary>Names defined as aliases (after AS, or right after a name, a constant or a closing parenthesis other than
    /// <c>OPERATOR(…)</c>'s).</summary>
    public required IReadOnlySet<string> Aliases { get; init; }

    /// <summary>Aliases without AS: classed by position alone, so a name here might be a value the reading mistook
    /// (the laundering check treats those that name a masked column, a relation or another alias as references).</summary>
    public IReadOnlySet<string> BareAliases { get; init; } = new HashSet<string>();

    /// <summary>Names classed as an alias at more than one position.</summary>
    public IReadOnlySet<string> RepeatedAliases { get; init; } = new HashSet<string>();

    /// <summary>Dotted references in value positions, not followed by "(": <c>q.name</c> is a column of q, or, when q's
    /// relation has no such column, PostgreSQL's attribute notation for the call <c>name(q)</c> of q's whole row.</summary>
    public IReadOnlyList<QualifiedReference> Qualified { get; init; } = [];

    /// <summary>Names called as functions (<c>email(c)</c> is also attribute notation for <c>c.email</c>).</summary>
    public required IReadOnlySet<string> Called { get; init; }

    /// <summary>A <c>*</c> or <c>TABLE</c> in the statement: whole rows copied by position.</summary>
    public bool Star { get; init; }

    /// <summary>A built-in function that reads data its text argument names (query_to_xml, table_to_xml…), or null.</summary>
    public string? ArgumentFunction { get; init; }

    /// <summary>A plain DELETE (no WITH): it writes no values.</summary>
    public bool WritesNoValues { get; init; }

    /// <summary>A relation named with an alias column list (<c>customers AS c(a, b)</c>): its columns go by other names.</summary>
    public bool RenamesColumns { get; init; }

    public static WriteValueReferences Of(string sql, StatementFacts facts) => Of(StatementTokens.Of(sql, facts), facts);

    public static WriteValueReferences Of(StatementTokens tokens, StatementFacts facts) => new Walk(tokens.Text, tokens.Tokens, facts.Command).Run();

    private sealed class Walk(string text, List<SqlToken> t, string command)
    {
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);
        private readonly HashSet<string> _bare = new(StringComparer.Ordinal);
        private readonly HashSet<string> _aliases = new(StringComparer.Ordinal);
        private readonly HashSet<string> _called = new(StringComparer.Ordinal);
        private readonly HashSet<string> _bareAliases = new(StringComparer.Ordinal);
        private readonly HashSet<string> _repeated = new(StringComparer.Ordinal);
        private readonly List<QualifiedReference> _qualified = [];
        private bool _star;
        private string? _argumentFunction;

        private bool Op(int i, string op) => i >= 0 && i < t.Count && t[i].Kind == TokenKind.Operator && text.AsSpan(t[i].Start, t[i].Length).SequenceEqual(op);

        private bool Kind(int i, TokenKind kind) => i >= 0 && i < t.Count && t[i].Kind == kind;

        private bool Kw(int i, Kw kw) => i >= 0 && i < t.Count && t[i].Is(kw);

        private bool Identifier(int i) => i >= 0 && i < t.Count && (t[i].Kind is TokenKind.QuotedIdent or TokenKind.UnicodeIdent || t[i].Kind == TokenKind.Word && t[i].Keyword == Sql.Kw.None);

        public WriteValueReferences Run()
        {
            bool with = Kw(0, Sql.Kw.With);
            if (command is "DELETE" or "SELECT" && !with)
            {
                return Result() with { WritesNoValues = true };
            }

            var exempt = new bool[t.Count];
            MarkTargets(exempt, with);
            if (with && command == "SELECT")
            {
                ExemptOnlyReturning(exempt);
            }
            var calls = new Stack<bool>(); // per open parenthesis: a call's arguments (trim(FROM x), extract(y FROM x))
            var operators = new Stack<bool>(); // per open parenthesis: OPERATOR(schema.op), whose ")" is followed by an operand
            int operatorClose = -1;
            for (int i = 0; i < t.Count; i++)
            {
                var token = t[i];
                if (token.Kind == TokenKind.LParen)
                {
                    calls.Push(t.Count > 0 && i > 0 && t[i - 1].IsName && (t[i - 1].Flags & KwFlags.Reserved) == 0);
                    operators.Push(i > 0 && t[i - 1].Kind == TokenKind.Word && text.AsSpan(t[i - 1].Start, t[i - 1].Length).Equals("operator", StringComparison.OrdinalIgnoreCase));
                }
                else if (token.Kind == TokenKind.RParen && calls.Count > 0)
                {
                    calls.Pop();
                    if (operators.Pop())
                    {
                        operatorClose = i;
                    }
                }

                _inCall = calls.Count > 0 && calls.Peek();
                if (exempt[i])
                {
                    continue;
                }

                if (token.Kind == TokenKind.Operator && Op(i, "*") && !Operand(i - 1) && !(Kind(i - 1, TokenKind.LParen) && Kind(i + 1, TokenKind.RParen) && t[i - 2].IsName))
                {
                    _star = true; // SELECT *, t.*, (t).* — but not a product, nor count(*)
                }

                if (token.Is(Sql.Kw.Table))
                {
                    _star = true;
                }

                if (!token.IsName || token.Kind == TokenKind.Word && (token.Flags & KwFlags.Reserved) != 0 || global::Gatehouse.Sql.Names.Normalize(text, token) is not { } name)
                {
                    continue;
                }

                if (Kind(i + 1, TokenKind.LParen) && (token.Flags & KwFlags.AliasStop) == 0 && AliasOfRelation(i) && !InsertColumnList(i + 1) && NamesOnly(i + 1) is not null)
                {
                    _renames = true;
                }

                if (Kind(i + 1, TokenKind.LParen))
                {
                    _called.Add(name);
                    if (ArgumentFunctions.Table.TryGetValue(name, out var rule) && rule.Role is not (ArgumentRole.WriteRelation or ArgumentRole.Setting))
                    {
                        _argumentFunction ??= name;
                    }

                    continue;
                }

                if (RelationPosition(i) || Kind(i - 1, TokenKind.TypeCast))
                {
                    SkipChain(exempt, i);
                    continue;
                }

                // An alias follows AS, or directly a name, a constant or a ")" — but not OPERATOR(…)'s ")", which is
                // followed by the operator's right operand ('' OPERATOR(pg_catalog.||) email).
                bool explicitAlias = Kw(i - 1, Sql.Kw.As);
                if (explicitAlias || Identifier(i) && !Kind(i + 1, TokenKind.Dot)
                    && (Identifier(i - 1) || Kind(i - 1, TokenKind.RParen) && i - 1 != operatorClose || Kind(i - 1, TokenKind.String) || Kind(i - 1, TokenKind.Number)))
                {
                    if (!_aliases.Add(name))
                    {
                        _repeated.Add(name);
                    }

                    if (!explicitAlias)
                    {
                        _bareAliases.Add(name);
                    }

                    continue;
                }

                // A whole row is a name alone (c, customers): after a dot, a name is a column or, in attribute notation, a
                // function of the row before it (Qualified).
                _names.Add(name);
                if (Kind(i - 1, TokenKind.Dot))
                {
                    continue;
                }

                if (!Kind(i + 1, TokenKind.Dot))
                {
                    _bare.Add(name);
                }
                else
                {
                    QualifiedReferences.AddChain(text, t, i, _qualified);
                }
            }

            return Result();
        }

        private WriteValueReferences Result() => new()
        {
            Names = _names, Bare = _bare, Aliases = _aliases, Called = _called, Star = _star, ArgumentFunction = _argumentFunction,
            RenamesColumns = _renames, BareAliases = _bareAliases, RepeatedAliases = _repeated, Qualified = _qualified,
        };

        private bool _renames;

        /// <summary>
        /// The name at <paramref name="i"/> is an alias of a relation name (not of a subquery or a function, whose
        /// columns are visible in the statement): after the name, [AS]; the name may end with <c>*</c> or be
        /// <c>ONLY (name)</c>. A call is never directly preceded by a name.
        /// </summary>
        private bool AliasOfRelation(int i)
        {
            int j = Kw(i - 1, Sql.Kw.As) ? i - 2 : i - 1;
            if (Op(j, "*"))
            {
                j--;
            }

            return Identifier(j) || Kind(j, TokenKind.RParen) && Identifier(j - 1) && Kind(j - 2, TokenKind.LParen) && Kw(j - 3, Sql.Kw.Only);
        }

        private bool Operand(int i) => Identifier(i) || Kind(i, TokenKind.Number) || Kind(i, TokenKind.String) || Kind(i, TokenKind.RParen)
            || Kind(i, TokenKind.RBracket) || Kind(i, TokenKind.Param);

        private bool _inCall;

        private bool RelationPosition(int i) =>
            Kw(i - 1, Sql.Kw.From) && !_inCall && !Kw(i - 2, Sql.Kw.Distinct) || Kw(i - 1, Sql.Kw.Join) || Kw(i - 1, Sql.Kw.Update) || Kw(i - 1, Sql.Kw.Into) || Kw(i - 1, Sql.Kw.Using) || Kw(i - 1, Sql.Kw.Only);

        /// <summary>A dotted name starting at <paramref name="i"/> (schema.table, a qualified type): all of it is not a value.</summary>
        private void SkipChain(bool[] exempt, int i)
        {
            for (int j = i + 1; j + 1 < t.Count && Kind(j, TokenKind.Dot) && t[j + 1].IsName; j += 2)
            {
                exempt[j] = exempt[j + 1] = true;
            }
        }

        /// <summary>Marks what the statement assigns or filters on, which are not values it writes.</summary>
        private void MarkTargets(bool[] exempt, bool with)
        {
            int depth = 0;
            int setDepth = -1;
            bool target = false;
            int subscript = 0;
            for (int i = 0; i < t.Count; i++)
            {
                var token = t[i];
                if (token.Kind == TokenKind.LParen)
                {
                    if ((Kw(i - 1, Sql.Kw.Conflict) || Kw(i - 1, Sql.Kw.Insert) || InsertColumnList(i)) && NamesOnly(i) is int close)
                    {
                        Array.Fill(exempt, true, i, close - i + 1);
                        i = close;
                        continue;
                    }

                    depth++;
                }
                else if (token.Kind == TokenKind.RParen)
                {
                    depth--;
                    if (setDepth > depth)
                    {
                        setDepth = -1;
                    }
                }

                if (depth == 0 && !with && (token.Is(Sql.Kw.Returning) || command == "UPDATE" && token.Is(Sql.Kw.Where)))
                {
                    int end = token.Is(Sql.Kw.Where) ? t.FindIndex(i, x => x.Is(Sql.Kw.Returning)) : -1;
                    Array.Fill(exempt, true, i, (end < 0 ? t.Count : end) - i);
                    if (end < 0)
                    {
                        return;
                    }

                    i = end - 1;
                    continue;
                }

                if (token.Is(Sql.Kw.Set))
                {
                    setDepth = depth;
                    target = true;
                    continue;
                }

                if (setDepth < 0)
                {
                    continue;
                }

                if (target)
                {
                    // SET col = …, SET col.field = …, SET col[1] = …, SET (a, b) = …; a subscript's expression is a value.
                    subscript += token.Kind == TokenKind.LBracket ? 1 : token.Kind == TokenKind.RBracket ? -1 : 0;
                    if (subscript > 0 || token.Kind == TokenKind.RBracket)
                    {
                        continue;
                    }

                    if (Op(i, "=") && depth == setDepth)
                    {
                        target = false;
                    }
                    else if (token.IsName || token.Kind is TokenKind.Dot or TokenKind.Comma or TokenKind.LParen or TokenKind.RParen)
                    {
                        exempt[i] = true;
                    }
                }
                else if (depth == setDepth && token.Kind == TokenKind.Comma)
                {
                    target = true;
                }
                else if (depth == setDepth && (token.Is(Sql.Kw.From) || token.Is(Sql.Kw.Where) || token.Is(Sql.Kw.Returning) || token.Is(Sql.Kw.When)))
                {
                    setDepth = -1;
                }
            }
        }

        /// <summary>
        /// WITH u AS (UPDATE … RETURNING …) SELECT …: when one CTE writes and the statement itself is a SELECT, what that
        /// CTE returns can only be read (and is masked by origin), so its RETURNING list and the final SELECT are not
        /// values written. With two
        /// writing CTEs one could store what the other returns, so both RETURNING lists count.
        /// </summary>
        private void ExemptOnlyReturning(bool[] exempt)
        {
            var writers = new List<(int Open, int Close)>();
            int depth = 0, open = -1;
            for (int i = 0; i < t.Count; i++)
            {
                if (t[i].Kind == TokenKind.LParen && depth++ == 0)
                {
                    open = i;
                }
                else if (t[i].Kind == TokenKind.RParen && --depth == 0 && open >= 0 && (Kw(open + 1, Sql.Kw.Insert) || Kw(open + 1, Sql.Kw.Update) || Kw(open + 1, Sql.Kw.Delete) || Kw(open + 1, Sql.Kw.Merge)))
                {
                    writers.Add((open, i));
                }
            }

            if (writers.Count != 1)
            {
                return;
            }

            // The statement's own SELECT (after the WITH list) only reads: it cannot feed a CTE.
            depth = 0;
            for (int i = 0; i < t.Count; i++)
            {
                depth += t[i].Kind == TokenKind.LParen ? 1 : t[i].Kind == TokenKind.RParen ? -1 : 0;
                if (depth == 0 && t[i].Is(Sql.Kw.Select))
                {
                    Array.Fill(exempt, true, i, t.Count - i);
                    break;
                }
            }

            var (from, to) = writers[0];
            depth = 0;
            for (int i = from + 1; i < to; i++)
            {
                depth += t[i].Kind == TokenKind.LParen ? 1 : t[i].Kind == TokenKind.RParen ? -1 : 0;
                if (depth == 0 && t[i].Is(Sql.Kw.Returning))
                {
                    Array.Fill(exempt, true, i, to - i);
                    return;
                }
            }
        }

        /// <summary>INSERT INTO name [[AS] alias] ( … : the parenthesis opens a column list (or a parenthesised query).</summary>
        private bool InsertColumnList(int open)
        {
            int j = open - 1;
            if (Identifier(j) && (Kw(j - 1, Sql.Kw.As) || t[j - 1].IsName && !Kw(j - 1, Sql.Kw.Into)))
            {
                j -= Kw(j - 1, Sql.Kw.As) ? 2 : 1; // the alias
            }

            while (j >= 2 && Kind(j - 1, TokenKind.Dot))
            {
                j -= 2;
            }

            return t[j].IsName && Kw(j - 1, Sql.Kw.Into);
        }

        /// <summary>The closing parenthesis when the list holds only names, dots, commas and subscripts; else null.</summary>
        private int? NamesOnly(int open)
        {
            int depth = 0;
            for (int j = open; j < t.Count; j++)
            {
                var kind = t[j].Kind;
                depth += kind == TokenKind.LParen ? 1 : kind == TokenKind.RParen ? -1 : 0;
                if (depth == 0)
                {
                    return j;
                }

                bool allowed = kind is TokenKind.LParen or TokenKind.Comma or TokenKind.Dot or TokenKind.LBracket or TokenKind.RBracket or TokenKind.Number
                    || Identifier(j) || t[j].Kind == TokenKind.Word && (t[j].Flags & KwFlags.Reserved) == 0;
                if (!allowed || kind == TokenKind.LParen && j != open)
                {
                    return null;
                }
            }

            return null;
        }
    }
}
