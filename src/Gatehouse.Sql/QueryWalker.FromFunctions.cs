namespace Gatehouse.Sql;

/// <summary>FROM items in SQL-standard function syntax (gram.y func_expr_common_subexpr), whose leading word is a
/// reserved keyword rather than a function name: CURRENT_DATE d(d), LOCALTIMESTAMP(3) t, CAST(x AS int8) c,
/// COLLATION FOR (x) col. Like the same forms in a select list they are not recorded as calls of a function of that
/// name; everything inside their parentheses is walked as function arguments, so what they call is recorded.</summary>
internal ref partial struct QueryWalker
{
    /// <summary>The index to continue at when the FROM item at <paramref name="j"/> is such a form; -1 otherwise.</summary>
    private int StandardFunction(int j)
    {
        ref readonly var tok = ref _t[j];
        if (tok.Kind != TokenKind.Word || (tok.Flags & KwFlags.AliasStop) == 0)
            return -1;
        var word = _text.Slice(tok.Start, tok.Length);
        var paren = j + 1 < _t.Length && _t[j + 1].Kind == TokenKind.LParen;
        if (Is(word, "current_date") || Is(word, "current_role") || Is(word, "current_user") || Is(word, "session_user")
            || Is(word, "system_user") || Is(word, "user") || Is(word, "current_catalog"))
            return paren ? -1 : FunctionAlias(j + 1);
        if (Is(word, "current_time") || Is(word, "current_timestamp") || Is(word, "localtime") || Is(word, "localtimestamp"))
            return paren ? Arguments(j + 1) : FunctionAlias(j + 1);   // an optional precision: ( Iconst )
        if (Is(word, "cast"))
            return paren ? Arguments(j + 1) : -1;
        if (Is(word, "collation"))
            return j + 2 < _t.Length && _t[j + 1].Is(Kw.For) && _t[j + 2].Kind == TokenKind.LParen ? Arguments(j + 2) : -1;
        if (Is(word, "current_schema"))
        {
            if (!paren)
                return FunctionAlias(j + 1);
            Called(new QualifiedName(null, "current_schema"), j + 1);   // current_schema() is a function call
            return Arguments(j + 1);
        }
        return -1;
    }

    private static bool Is(ReadOnlySpan<char> word, string keyword) => word.Equals(keyword, StringComparison.OrdinalIgnoreCase);

    /// <summary>"(" at <paramref name="paren"/> opens the item's arguments; its ")" is followed by the item's alias.</summary>
    private int Arguments(int paren)
    {
        _funcParen = paren;
        _relParen = paren;
        return paren;
    }

    /// <summary>[WITH ORDINALITY] [[AS] alias [(columns)]] after a form without parentheses.</summary>
    private int FunctionAlias(int j)
    {
        if (j + 1 < _t.Length && _t[j].Is(Kw.With) && _t[j + 1].Is(Kw.Ordinality))
            j += 2;
        return Alias(j, bare: true);
    }
}
