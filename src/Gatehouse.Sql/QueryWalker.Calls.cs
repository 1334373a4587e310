namespace Gatehouse.Sql;

/// <summary>Function calls whose arguments name SQL, relations or settings; locking clauses.</summary>
internal ref partial struct QueryWalker
{
    private const int MaxArguments = 8;
    private const int MaxCalls = 1024;

    /// <summary>Records a call of <paramref name="name"/> whose "(" is at <paramref name="paren"/>.</summary>
    private void Called(QualifiedName name, int paren)
    {
        _s.Add(_s.Functions, name);
        _funcParen = paren;
        if (name.Schema is null or "pg_catalog" && ArgumentFunctions.Table.TryGetValue(name.Name, out var rule)
            && ReadCall(name.Name, rule, paren) is { } call)
        {
            if (_s.Calls.Count >= MaxCalls)
                _s.Fail("too many calls of functions that take SQL, relations or settings as text");
            else
                _s.Calls.Add(call);
        }
    }

    private readonly PendingCall? ReadCall(string function, ArgumentFunction rule, int paren)
    {
        Span<(int Start, int End)> args = stackalloc (int, int)[MaxArguments];
        var count = 0;
        var depth = 0;
        var start = paren + 1;
        var j = paren + 1;
        for (; j < _t.Length; j++)
        {
            var kind = _t[j].Kind;
            if (kind is TokenKind.LParen or TokenKind.LBracket)
                depth++;
            else if (kind is TokenKind.RParen or TokenKind.RBracket && depth-- == 0)
                break;
            else if (kind == TokenKind.Comma && depth == 0)
            {
                if (count < MaxArguments)
                    args[count] = (start, j);
                count++;
                start = j + 1;
            }
        }
        if (j > paren + 1)
        {
            if (count < MaxArguments)
                args[count] = (start, j);
            count++;
        }
        if (rule.Arity >= 0 && count != rule.Arity)
            return null;
        if (count > MaxArguments)
            return new PendingCall(function, rule, null);
        args = args[..count];
        switch (rule.Role)
        {
            case ArgumentRole.EveryRelation:
                return new PendingCall(function, rule, null);
            case ArgumentRole.Setting:
                var name = Argument(args, 0, null, out _);
                var value = Argument(args, 1, null, out var valueFound);
                var local = Argument(args, 2, null, out _);
                return new PendingCall(function, rule, Literal(name), Literal(value), valueFound && Literal(value) is not null,
                    Boolean(local) ?? false, _s.Frames.Count == 1 ? NameColumn(name) : null);
            default:
                return new PendingCall(function, rule, Literal(Argument(args, rule.Position, rule.Parameter, out _)));
        }
    }

    /// <summary>The token range of a positional argument, or of a named one (name =&gt; value, name := value).</summary>
    private readonly (int Start, int End) Argument(ReadOnlySpan<(int Start, int End)> args, int position, string? parameter, out bool found)
    {
        found = false;
        for (var k = 0; k < args.Length; k++)
        {
            var (start, end) = args[k];
            if (end - start >= 2 && _t[start].IsName && _t[start + 1].Kind == TokenKind.Operator
                && _text.Slice(_t[start + 1].Start, _t[start + 1].Length) is "=>" or ":=")
            {
                if (parameter is not null && Names.Normalize(_text, _t[start]) == parameter)
                {
                    found = true;
                    return (start + 2, end);
                }
            }
            else if (k == position)
            {
                found = true;
                return (start, end);
            }
        }
        return (0, 0);
    }

    /// <summary>A string constant, optionally cast to a text or name type: its value; null for anything else.</summary>
    private readonly string? Literal((int Start, int End) arg)
    {
        var (start, end) = arg;
        if (end - start is not (1 or 3))
            return null;
        if (end - start == 3 && (_t[start + 1].Kind != TokenKind.TypeCast || _t[start + 2].Kind != TokenKind.Word
            || !IsTextType(_text.Slice(_t[start + 2].Start, _t[start + 2].Length))))
            return null;
        if (Literals.FollowedByString(_t, start))
            return null;
        return Literals.Value(_text, _t[start], _s.Strings);
    }

    /// <summary>"name" or "q.name" (unquoted or quoted): the qualifier ("" when none); null for anything else.</summary>
    private readonly string? NameColumn((int Start, int End) arg)
    {
        var (start, end) = arg;
        if (end - start is not (1 or 3) || !_t[end - 1].IsName || Names.Normalize(_text, _t[end - 1]) != "name")
            return null;
        if (end - start == 1)
            return "";
        return _t[start].IsName && _t[start + 1].Kind == TokenKind.Dot ? Names.Normalize(_text, _t[start]) : null;
    }

    private static bool IsTextType(ReadOnlySpan<char> type) =>
        type.Equals("text", StringComparison.OrdinalIgnoreCase) || type.Equals("varchar", StringComparison.OrdinalIgnoreCase)
        || type.Equals("name", StringComparison.OrdinalIgnoreCase) || type.Equals("regclass", StringComparison.OrdinalIgnoreCase)
        || type.Equals("refcursor", StringComparison.OrdinalIgnoreCase);

    /// <summary>A boolean constant (TRUE, FALSE, or a string boolean input accepts); null when not one.</summary>
    private readonly bool? Boolean((int Start, int End) arg)
    {
        if (arg.End - arg.Start == 1 && _t[arg.Start].Kind == TokenKind.Word)
        {
            var word = _text.Slice(_t[arg.Start].Start, _t[arg.Start].Length);
            return word.Equals("true", StringComparison.OrdinalIgnoreCase) ? true
                : word.Equals("false", StringComparison.OrdinalIgnoreCase) ? false : null;
        }
        return Literal(arg) is { } s ? Literals.ParseBool(s) : null;
    }

    /// <summary>FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE [OF name, …]: the named FROM items of this level
    /// are written; without OF, or when a name is not a table of this level, every relation is.</summary>
    private int LockingClause(int i)
    {
        _s.Locking = true;
        var j = i + 1;
        if (_t[j].Is(Kw.No))
            j = j + 2 < _t.Length && _t[j + 1].Is(Kw.Key) && _t[j + 2].Is(Kw.Update) ? j + 3 : -1;
        else if (_t[j].Is(Kw.Key))
            j = j + 1 < _t.Length && _t[j + 1].Is(Kw.Share) ? j + 2 : -1;
        else
            j++;
        if (j < 0)
        {
            _s.Fail("malformed locking clause");
            return _t.Length;
        }
        if (j >= _t.Length || !_t[j].Is(Kw.Of) || _s.FromItemsDropped)
        {
            _s.LockAll = true;
            return j;
        }
        var frame = Top.Id;
        for (j++; ; j += 2)
        {
            if (j >= _t.Length || !_t[j].IsName)
            {
                _s.LockAll = true;
                return j;
            }
            var name = Names.Normalize(_text, _t[j]);
            var found = false;
            if (name is not null && !(j + 1 < _t.Length && _t[j + 1].Kind == TokenKind.Dot))
            {
                foreach (var item in _s.FromItems)
                {
                    if (item.Frame != frame)
                        continue;
                    var itemName = item.AliasToken >= 0 ? Names.Normalize(_text, _t[item.AliasToken]) : item.Relation.Name;
                    if (itemName == name)
                    {
                        _s.Locked.Add(item.Relation);
                        found = true;
                    }
                }
            }
            _s.LockAll |= !found;
            if (j + 1 >= _t.Length || _t[j + 1].Kind != TokenKind.Comma)
                return j + 1;
        }
    }
}
