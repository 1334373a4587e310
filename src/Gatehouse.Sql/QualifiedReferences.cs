namespace Gatehouse.Sql;

/// <summary>
/// One dotted reference not followed by "(": <c>q.name</c>, <c>s.t.name</c>, or <c>(expr).name</c> (<see cref="Qualifier"/>
/// null). PostgreSQL reads <c>q.name</c> as column <c>name</c> of the relation q stands for when it has one, and
/// otherwise as attribute notation: the call <c>name(q)</c> on q's whole row (<c>c.to_jsonb</c>, <c>o.customer_email</c>).
/// </summary>
public readonly record struct QualifiedReference(QualifiedName? Qualifier, string Name);

/// <summary>
/// The dotted references of a statement and what its range names (aliases, CTE names) may stand for, read from its
/// tokens, so masking can tell a column <c>q.name</c> from a call <c>name(q)</c> with the catalog. The alias reading
/// over-approximates: every definition found counts, and an alias whose relation it cannot place names no relation
/// but counts as "any" (<see cref="Aliases"/> holds a null entry), so a resolution errs towards more relations.
/// </summary>
public sealed record QualifiedReferences
{
    /// <summary>Every dotted reference of the statement (any clause), in order.</summary>
    public required IReadOnlyList<QualifiedReference> References { get; init; }

    /// <summary>
    /// Alias → the relations it is defined for (<c>customers c</c>, <c>ONLY (customers) AS c</c>, <c>UPDATE customers c</c>).
    /// An alias of a subquery, VALUES or a function has no entry of its own (its columns are in the statement's text);
    /// a null entry: an alias after something the reading could not place (a parenthesised join), any relation.
    /// </summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<QualifiedName?>> Aliases { get; init; }

    /// <summary>Names declared as CTEs (<c>WITH x AS (…)</c>, <c>, y (a, b) AS MATERIALIZED (…)</c>).</summary>
    public required IReadOnlySet<string> Ctes { get; init; }

    private const int MaxChain = 4;

    public static QualifiedReferences Of(string sql, StatementFacts facts) => Of(StatementTokens.Of(sql, facts), facts);

    public static QualifiedReferences Of(StatementTokens tokens, StatementFacts facts) => Read(tokens.Text, tokens.Tokens, facts);

    private static QualifiedReferences Read(string text, List<SqlToken> t, StatementFacts facts)
    {
        var references = new List<QualifiedReference>();
        var aliases = new Dictionary<string, List<QualifiedName?>>(StringComparer.Ordinal);
        var ctes = new HashSet<string>(StringComparer.Ordinal);
        var open = new Stack<int>();
        var match = new int[t.Count]; // for each ")" its "(", for each "(" its ")"; -1 when unbalanced
        Array.Fill(match, -1);
        for (int i = 0; i < t.Count; i++)
        {
            if (t[i].Kind == TokenKind.LParen)
            {
                open.Push(i);
            }
            else if (t[i].Kind == TokenKind.RParen && open.Count > 0)
            {
                match[i] = open.Pop();
                match[match[i]] = i;
            }
        }

        for (int i = 0; i < t.Count; i++)
        {
            var token = t[i];
            if (token.Kind == TokenKind.RParen && Is(t, i + 1, TokenKind.Dot) && i + 2 < t.Count && t[i + 2].IsName)
            {
                // (expr).name[.name…]: field selections or calls on an expression's value.
                for (int j = i + 2; j < t.Count && t[j].IsName && Names.Normalize(text, t[j]) is { } field; j += 2)
                {
                    if (!Is(t, j + 1, TokenKind.LParen))
                    {
                        references.Add(new QualifiedReference(null, field));
                    }

                    if (!Is(t, j + 1, TokenKind.Dot))
                    {
                        break;
                    }
                }

                continue;
            }

            if (!token.IsName || Is(t, i - 1, TokenKind.Dot) || Names.Normalize(text, token) is not { } name)
            {
                continue;
            }

            if (Is(t, i + 1, TokenKind.Dot))
            {
                if (!Is(t, i - 1, TokenKind.TypeCast) && !t.Is(i - 1, Kw.As) && !RelationChain(text, t, i, facts))
                {
                    AddChain(text, t, i, references);
                }

                continue;
            }

            if (t.Is(i - 1, Kw.With) || t.Is(i - 1, Kw.Recursive) || Is(t, i - 1, TokenKind.Comma))
            {
                int j = Is(t, i + 1, TokenKind.LParen) && match[i + 1] >= 0 ? match[i + 1] + 1 : i + 1;
                if (t.Is(j, Kw.As) && (Is(t, j + 1, TokenKind.LParen) || t.Is(j + 1, Kw.Not) || t.Is(j + 1, Kw.Materialized)))
                {
                    ctes.Add(name);
                    continue;
                }
            }

            bool explicitAlias = t.Is(i - 1, Kw.As);
            if (!explicitAlias && !(token.Kind is TokenKind.QuotedIdent or TokenKind.UnicodeIdent || token.Keyword == Kw.None))
            {
                continue;
            }

            int k = explicitAlias ? i - 2 : i - 1;
            if (k >= 0 && t[k].Kind == TokenKind.Operator && t[k].Length == 1 && text[t[k].Start] == '*')
            {
                k--; // customers * c: the table and its descendants
            }

            if (k < 0)
            {
                continue;
            }

            if (t[k].IsName && (t[k].Keyword == Kw.None || t[k].Keyword == Kw.Other && (t[k].Flags & KwFlags.AliasStop) == 0))
            {
                if (Chain(text, t, k) is { } relation)
                {
                    Add(aliases, name, relation);
                }
            }
            else if (t[k].Kind == TokenKind.RParen && match[k] is var m and >= 0)
            {
                if (t.Is(m - 1, Kw.Only) && m + 1 < t.Count && t[m + 1].IsName && DottedEnd(t, m + 1) == k - 1 && Chain(text, t, k - 1) is { } only)
                {
                    Add(aliases, name, only); // ONLY (customers) c
                }
                else if (m + 1 < t.Count && t[m + 1].Keyword is Kw.Select or Kw.Values or Kw.With or Kw.Table
                         || m > 0 && t[m - 1].IsName && (t[m - 1].Flags & KwFlags.Reserved) == 0 || t.Is(m - 1, Kw.From) && t.Is(m - 2, Kw.Rows))
                {
                    if (!aliases.ContainsKey(name))
                    {
                        aliases[name] = []; // a subquery's, a function's: its columns are in the text
                    }
                }
                else
                {
                    Add(aliases, name, null); // a parenthesised join, or what the reading cannot place
                }
            }
        }

        return new QualifiedReferences
        {
            References = references,
            Aliases = aliases.ToDictionary(p => p.Key, p => (IReadOnlyList<QualifiedName?>)p.Value, StringComparer.Ordinal),
            Ctes = ctes,
        };
    }

    /// <summary>Adds the references of the dotted name starting at <paramref name="i"/> (a name followed by a dot): each part
    /// after the first with the one or two parts before it as its qualifier; nothing when the chain is a function's name.</summary>
    internal static void AddChain(string text, List<SqlToken> t, int i, List<QualifiedReference> into)
    {
        int end = DottedEnd(t, i);
        if (Is(t, end + 1, TokenKind.LParen))
        {
            return; // schema.function(…)
        }

        Span<int> parts = stackalloc int[MaxChain];
        int count = 0;
        for (int j = i; j <= end && count < MaxChain; j += 2)
        {
            parts[count++] = j;
        }

        string?[] names = new string?[count];
        for (int p = 0; p < count; p++)
        {
            names[p] = Names.Normalize(text, t[parts[p]]);
        }

        for (int p = 1; p < count; p++)
        {
            if (names[p] is { } name && names[p - 1] is { } last && (p < 2 || names[p - 2] is not null))
            {
                into.Add(new QualifiedReference(new QualifiedName(p >= 2 ? names[p - 2] : null, last), name));
            }
        }
    }

    /// <summary>The dotted name ending at <paramref name="end"/>, as a relation name (its last two parts), or null.</summary>
    private static QualifiedName? Chain(string text, List<SqlToken> t, int end)
    {
        int start = end;
        while (start >= 2 && Is(t, start - 1, TokenKind.Dot) && t[start - 2].IsName)
        {
            start -= 2;
        }

        if ((end - start) / 2 + 1 > 3 || Names.Normalize(text, t[end]) is not { } name)
        {
            return null;
        }

        return end > start ? Names.Normalize(text, t[end - 2]) is { } schema ? new QualifiedName(schema, name) : null : new QualifiedName(null, name);
    }

    /// <summary>The dotted name starting at <paramref name="i"/> names a relation of the statement (FROM a, public.customers c).</summary>
    private static bool RelationChain(string text, List<SqlToken> t, int i, StatementFacts facts)
    {
        int end = DottedEnd(t, i);
        if (end == i || Chain(text, t, end) is not { Schema: not null } relation)
        {
            return false;
        }

        return facts.ReadRelations.Contains(relation) || facts.WrittenRelations.Contains(relation);
    }

    private static int DottedEnd(List<SqlToken> t, int i)
    {
        int j = i;
        while (Is(t, j + 1, TokenKind.Dot) && j + 2 < t.Count && t[j + 2].IsName)
        {
            j += 2;
        }

        return j;
    }

    private static bool Is(List<SqlToken> t, int i, TokenKind kind) => i >= 0 && i < t.Count && t[i].Kind == kind;

    private static void Add(Dictionary<string, List<QualifiedName?>> aliases, string alias, QualifiedName? relation)
    {
        if (!aliases.TryGetValue(alias, out var list))
        {
            aliases[alias] = list = [];
        }

        if (!list.Contains(relation))
        {
            list.Add(relation);
        }
    }
}

internal static class TokenListExtensions
{
    public static bool Is(this List<SqlToken> t, int i, Kw keyword) => i >= 0 && i < t.Count && t[i].Is(keyword);
}
