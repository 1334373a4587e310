namespace Gatehouse.Sql;

/// <summary>Name reading and token skipping for <see cref="QueryWalker"/>.</summary>
internal ref partial struct QueryWalker
{
    private readonly bool IsCall(int i, int end)
    {
        ref readonly var first = ref _t[i];
        if (end == i + 1 && first.Kind == TokenKind.Word && (first.Flags & KwFlags.NotFunction) != 0)
            return false;
        if (i == 0)
            return true;
        ref readonly var prev = ref _t[i - 1];
        if (prev.Kind == TokenKind.TypeCast || prev.Is(Kw.As) || prev.Is(Kw.Tablesample))
            return false;   // a type with modifiers: x::numeric(10,2), CAST(x AS varchar(3))
        return Query || !(prev.Keyword is Kw.Using or Kw.On or Kw.Of || prev.IsName && prev.Keyword == Kw.None);
    }

    /// <summary>name(.name)*: index after the name; 1–3 parts (catalog.schema.name keeps schema.name).</summary>
    private readonly int DottedNameEnd(int j)
    {
        if (j >= _t.Length || !_t[j].IsName)
            return j;
        j++;
        while (j + 1 < _t.Length && _t[j].Kind == TokenKind.Dot && _t[j + 1].IsName)
            j += 2;
        return j;
    }

    private readonly int DottedName(int j, out QualifiedName? name)
    {
        name = null;
        var end = DottedNameEnd(j);
        var parts = (end - j + 1) / 2;
        if (parts is < 1 or > 3)
        {
            _s.Fail(parts < 1 ? "name expected" : "improper qualified name (too many dotted names)");
            return Math.Max(end, j + 1);
        }
        var last = Names.Normalize(_text, _t[end - 1]);
        var schema = parts > 1 ? Names.Normalize(_text, _t[end - 3]) : null;
        if (last is null || (parts > 1 && schema is null))
        {
            _s.Fail("invalid identifier");
            return end;
        }
        name = new QualifiedName(schema, last);
        return end;
    }

    private readonly int SkipStar(int j) =>
        j < _t.Length && _t[j].Kind == TokenKind.Operator && _t[j].Length == 1 && _text[_t[j].Start] == '*' ? j + 1 : j;

    /// <summary>Skips a balanced ( … ) that holds names only (column lists, type modifiers).</summary>
    private readonly int SkipParens(int j)
    {
        var depth = 0;
        for (; j < _t.Length; j++)
        {
            if (_t[j].Kind == TokenKind.LParen) depth++;
            else if (_t[j].Kind == TokenKind.RParen && --depth == 0) return j + 1;
            else if (_t[j].Kind == TokenKind.Error) break;
        }
        _s.Fail("unbalanced parentheses");
        return _t.Length;
    }

    private readonly int SkipPast(int j, Kw kw)
    {
        while (j < _t.Length && !_t[j].Is(kw))
            j++;
        return j + 1;
    }

    /// <summary>Expects keyword <paramref name="kw"/> (or, for <see cref="Kw.None"/>, any name) at j.</summary>
    private readonly int Expect(int j, Kw kw)
    {
        if (j < _t.Length && (kw == Kw.None ? _t[j].IsName : _t[j].Is(kw)))
            return j + 1;
        _s.Fail(kw == Kw.None ? "name expected" : $"{kw.ToString().ToUpperInvariant()} expected");
        return _t.Length;
    }
}
