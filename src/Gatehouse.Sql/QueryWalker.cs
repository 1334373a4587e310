using System.Runtime.InteropServices;

namespace Gatehouse.Sql;

internal enum WalkMode
{
    /// <summary>SELECT/VALUES/TABLE/WITH/INSERT/UPDATE/DELETE/MERGE: relations and functions.</summary>
    Query,
    /// <summary>Expressions inside DDL (defaults, checks, index expressions): functions only.</summary>
    Ddl,
}

/// <summary>
/// Walks a statement's tokens once, left to right, keeping a stack of parenthesis levels, and records
/// every relation read (FROM/JOIN/',' items, TABLE t, USING of DELETE/MERGE), every DML target written,
/// and every function called. Anything it cannot place is reported through <see cref="Scratch.Fail"/>.
/// No recursion: nesting depth costs heap, not stack.
/// </summary>
internal ref partial struct QueryWalker
{
    private const int MaxCtes = 256;
    private const int MaxFromItems = 64;

    private readonly ReadOnlySpan<char> _text;
    private readonly ReadOnlySpan<SqlToken> _t;
    private readonly Scratch _s;
    private readonly WalkMode _mode;
    private int _relPos = -1, _funcParen = -1, _relParen = -1, _cteParen = -1, _headPos = -1, _cteDepth;
    private string? _cteName;
    private bool _cteRecursive;

    private QueryWalker(ReadOnlySpan<char> text, ReadOnlySpan<SqlToken> tokens, Scratch scratch, WalkMode mode)
    {
        _text = text;
        _t = tokens;
        _s = scratch;
        _mode = mode;
    }

    public static void Walk(ReadOnlySpan<char> text, ReadOnlySpan<SqlToken> tokens, Scratch scratch, WalkMode mode)
    {
        var w = new QueryWalker(text, tokens, scratch, mode);
        w.Run();
    }

    private readonly ref Frame Top => ref CollectionsMarshal.AsSpan(_s.Frames)[^1];

    private readonly bool Query => _mode == WalkMode.Query;

    private void Run()
    {
        var t = _t;
        _s.Frames.Clear();
        _s.Frames.Add(new Frame { Kind = FrameKind.Plain, Id = _s.NextFrameId++ });
        _headPos = Query ? 0 : -1;
        for (var i = 0; i < t.Length && _s.Unknown is null;)
        {
            ref readonly var tok = ref t[i];
            if (tok.Kind == TokenKind.Error)
            {
                _s.Fail("malformed literal, identifier or comment");
                break;
            }
            if (i == _relPos)
            {
                var next = Relation(i);
                if (next != i)
                {
                    i = next;
                    continue;
                }
            }
            if (i == _headPos && tok.Kind == TokenKind.Word)
            {
                var next = Head(i);
                if (next > i)
                {
                    i = next;
                    continue;
                }
            }
            i = tok.Kind switch
            {
                TokenKind.LParen => Open(i),
                TokenKind.RParen => Close(i),
                TokenKind.Comma => Comma(i),
                TokenKind.Word => WordToken(i),
                TokenKind.QuotedIdent or TokenKind.UnicodeIdent => NameToken(i),
                _ => i + 1,
            };
        }
        if (_relPos == t.Length)
            _s.Fail("relation expected at end of statement");
        if (_s.Unknown is null && _s.Frames.Count != 1)
            _s.Fail("unbalanced parentheses or CASE without END");
        if (_s.LockAll)
        {
            foreach (var r in _s.Reads)
                _s.Add(_s.Writes, r);
            _s.Reads.Clear();
        }
        else
        {
            foreach (var r in _s.Locked)
                _s.MoveToWrites(r);
        }
    }

    private int Comma(int i)
    {
        ref var top = ref Top;
        if (top.Kind == FrameKind.Case)
            _s.Fail("a comma inside CASE … END (a column named case needs AS)");
        if (Query && top.InFrom && top.Kind is FrameKind.Plain or FrameKind.CteBody)
            _relPos = i + 1;
        return i + 1;
    }

    private int Open(int i)
    {
        var kind = i == _funcParen ? FrameKind.Func : i == _cteParen ? FrameKind.CteBody : FrameKind.Plain;
        var fromItem = i == _relParen;
        var frame = new Frame { Kind = kind, FromItem = fromItem, InFrom = fromItem && kind == FrameKind.Plain, CteMark = _s.Ctes.Count, Id = _s.NextFrameId++ };
        if (kind == FrameKind.CteBody)
        {
            frame.CteName = _cteName;
            frame.Recursive = _cteRecursive;
            _cteDepth++;
        }
        _s.Frames.Add(frame);
        if (kind != FrameKind.Func)
            _headPos = i + 1;
        if (frame.InFrom)
            _relPos = i + 1;   // a parenthesised join: (a JOIN b ON …)
        return i + 1;
    }

    private int Close(int i)
    {
        var frames = _s.Frames;
        if (frames.Count == 1 || Top.Kind == FrameKind.Case)
        {
            _s.Fail("unbalanced parentheses");
            return i + 1;
        }
        var fr = frames[^1];
        frames.RemoveAt(frames.Count - 1);
        _s.Ctes.RemoveRange(fr.CteMark, _s.Ctes.Count - fr.CteMark);
        var j = i + 1;
        if (fr.Kind == FrameKind.CteBody)
        {
            _cteDepth--;
            if (!fr.Recursive && fr.CteName is not null)
                _s.Ctes.Add(fr.CteName);
            while (j < _t.Length && (_t[j].Is(Kw.Search) || _t[j].Is(Kw.Cycle)))
                j = SkipPast(j, _t[j].Is(Kw.Search) ? Kw.Set : Kw.Using) + 1;
            if (j < _t.Length && _t[j].Kind == TokenKind.Comma)
                return CteDecl(j + 1, fr.Recursive);
            _headPos = j;
            return j;
        }
        if (fr.FromItem)
        {
            if (j + 1 < _t.Length && _t[j].Is(Kw.With) && _t[j + 1].Is(Kw.Ordinality))
                j += 2;
            return Alias(j, bare: true);
        }
        return j;
    }

    /// <summary>A statement head: WITH, INSERT, UPDATE, DELETE, MERGE at the start of a (sub)statement.</summary>
    private int Head(int i)
    {
        var kw = _t[i].Keyword;
        if (kw is Kw.Select or Kw.Values or Kw.Table or Kw.Insert or Kw.Update or Kw.Delete or Kw.Merge
            && _cteDepth == 0 && _s.MainHead == Kw.None)
            _s.MainHead = kw;
        switch (kw)
        {
            case Kw.With:
                return CteDecl(i + 1, false);
            case Kw.Insert:
                _s.Dml = true;
                _s.AddCommand("INSERT");
                Top.Insert = true;
                var j = Expect(i + 1, Kw.Into);
                j = Target(j);
                if (j < _t.Length && _t[j].Is(Kw.As))
                    j = Expect(j + 1, Kw.None);
                if (j < _t.Length && _t[j].Kind == TokenKind.LParen && !StartsQuery(j + 1))
                    j = InsertColumns(j);   // the column list; "INSERT INTO t (SELECT …)" is a parenthesised source
                if (j + 2 < _t.Length && _t[j].Is(Kw.Overriding))
                    j += 3;   // OVERRIDING { SYSTEM | USER } VALUE
                // A WITH of the source query is not visible in RETURNING and ON CONFLICT (WordToken ends its scope).
                Top.InsertCtes = _s.Ctes.Count + 1;
                _headPos = j;
                return j;
            case Kw.Update:
                _s.Dml = true;
                _s.AddCommand("UPDATE");
                return Alias(Target(i + 1), bare: true);
            case Kw.Delete:
            case Kw.Merge:
                _s.Dml = true;
                _s.AddCommand(kw == Kw.Delete ? "DELETE" : "MERGE");
                if (kw == Kw.Merge)
                    Top.Merge = true;
                j = Alias(Target(Expect(i + 1, kw == Kw.Delete ? Kw.From : Kw.Into)), bare: true);
                if (j < _t.Length && _t[j].Is(Kw.Using))
                {
                    Top.InFrom = true;
                    _relPos = j + 1;
                    return j + 1;
                }
                if (kw == Kw.Merge)
                    _s.Fail("MERGE without USING");
                return j;
            case Kw.Table:
                var k = i + 1 < _t.Length && _t[i + 1].Is(Kw.Only) ? i + 2 : i + 1;
                var end = DottedName(k, out var name);
                if (name is { } n)
                    _s.AddRead(n);
                return SkipStar(end);
            default:
                return i;
        }
    }

    private readonly bool OpensQuery(int j) =>
        j < _t.Length && _t[j].Keyword is Kw.Select or Kw.Values or Kw.With or Kw.Table;

    private readonly bool StartsQuery(int j) =>
        j < _t.Length && (_t[j].Kind == TokenKind.LParen || _t[j].Keyword is Kw.Select or Kw.Values or Kw.With or Kw.Table);

    /// <summary>[ONLY] name [*] of a DML target: recorded as written.</summary>
    private int Target(int j)
    {
        if (j < _t.Length && _t[j].Is(Kw.Only))
            j++;
        var end = DottedName(j, out var name);
        if (name is { } n)
            _s.Add(_s.Writes, n);
        return SkipStar(end);
    }

    private int CteDecl(int j, bool recursive)
    {
        if (j < _t.Length && _t[j].Is(Kw.Recursive))
        {
            recursive = true;
            j++;
        }
        if (j >= _t.Length || !_t[j].IsName || (_t[j].Flags & KwFlags.AliasStop) != 0)
        {
            _s.Fail("CTE name expected");
            return _t.Length;
        }
        var name = Names.Normalize(_text, _t[j]);
        if (name is null || _s.Ctes.Count >= MaxCtes)
        {
            _s.Fail("invalid or too many CTE names");
            return _t.Length;
        }
        j++;
        if (j < _t.Length && _t[j].Kind == TokenKind.LParen)
            j = SkipParens(j);
        j = Expect(j, Kw.As);
        if (j < _t.Length && _t[j].Is(Kw.Not))
            j++;
        if (j < _t.Length && _t[j].Is(Kw.Materialized))
            j++;
        if (j >= _t.Length || _t[j].Kind != TokenKind.LParen)
        {
            _s.Fail("CTE body expected");
            return _t.Length;
        }
        if (recursive)
            _s.Ctes.Add(name);
        _cteName = name;
        _cteRecursive = recursive;
        _cteParen = j;
        return j;
    }

    /// <summary>A FROM item: [LATERAL] [ONLY] name [*] [alias] | function(…) [alias] | ( … ) [alias] | ROWS FROM ( … )
    /// | an SQL-standard function form (<see cref="StandardFunction"/>).</summary>
    private int Relation(int i)
    {
        var j = i;
        while (j < _t.Length && (_t[j].Is(Kw.Lateral) || _t[j].Is(Kw.Only)))
            j++;
        if (j >= _t.Length)
        {
            _s.Fail("relation expected");
            return j;
        }
        ref readonly var tok = ref _t[j];
        if (tok.Kind == TokenKind.LParen)
        {
            _relParen = j;
            return j;
        }
        if (tok.Is(Kw.Rows) && j + 2 < _t.Length && _t[j + 1].Is(Kw.From) && _t[j + 2].Kind == TokenKind.LParen)
        {
            _relParen = j + 2;
            return j + 2;
        }
        if (tok.Keyword is Kw.Select or Kw.Values or Kw.With or Kw.Table)
            return j;   // a subquery's head, reached through "(": not a relation
        if (tok.Keyword is Kw.Insert or Kw.Update or Kw.Delete or Kw.Merge)
        {
            _s.Fail("data-modifying statement in FROM");
            return j;
        }
        if (StandardFunction(j) is var standard and >= 0)
            return standard;
        if (!tok.IsName || (tok.Flags & KwFlags.AliasStop) != 0)
        {
            _s.Fail("unexpected token where a relation was expected");
            return j;
        }
        var end = DottedName(j, out var name);
        if (name is not { } n)
            return end;
        if (end < _t.Length && _t[end].Kind == TokenKind.LParen)
        {
            Called(n, end);
            _relParen = end;
            return end;
        }
        var next = Alias(SkipStar(end), bare: true, out var alias);
        if (!(n.Schema is null && _s.Ctes.Contains(n.Name)))
        {
            // Only FOR UPDATE OF needs them; past a few, every relation counts as locked instead.
            if (_s.FromItems.Count < MaxFromItems)
                _s.FromItems.Add(new FromItem(Top.Id, n, alias));
            else
                _s.FromItemsDropped = true;
        }
        _s.AddRead(n);
        return next;
    }

    private int Alias(int j, bool bare) => Alias(j, bare, out _);

    /// <summary>[AS] alias [(columns)] or AS (column definitions); <paramref name="alias"/>: the alias token or -1.</summary>
    private int Alias(int j, bool bare, out int alias)
    {
        alias = -1;
        if (j >= _t.Length)
            return j;
        ref readonly var tok = ref _t[j];
        if (tok.Is(Kw.As))
        {
            j++;
            if (j < _t.Length && _t[j].Kind == TokenKind.LParen)
                return SkipParens(j);
            alias = j;
            j = Expect(j, Kw.None);
        }
        else if (bare && (tok.Kind is TokenKind.QuotedIdent or TokenKind.UnicodeIdent
                 || (tok.Kind == TokenKind.Word && (tok.Flags & KwFlags.AliasStop) == 0)))
        {
            alias = j;
            j++;
        }
        else
        {
            return j;
        }
        return j < _t.Length && _t[j].Kind == TokenKind.LParen ? SkipParens(j) : j;
    }

    private int WordToken(int i)
    {
        ref readonly var tok = ref _t[i];
        if (i > 0 && (_t[i - 1].Kind == TokenKind.Dot || _t[i - 1].Is(Kw.As)))
            return NameToken(i);   // a field (t.delete), a column label (AS update) or a type (AS int): any word
        ref var top = ref Top;
        var inFunc = top.Kind == FrameKind.Func;
        if (top.InsertCtes > 0 && (tok.Is(Kw.Returning) || (tok.Is(Kw.On) && i + 1 < _t.Length && _t[i + 1].Is(Kw.Conflict))))
        {
            // Past an INSERT's source: names its WITH declared are tables again (a "JOIN … ON conflict" column
            // ends the scope early, which only makes more names count as tables).
            _s.Ctes.RemoveRange(top.InsertCtes - 1, _s.Ctes.Count - (top.InsertCtes - 1));
            top.InsertCtes = 0;
        }
        if (i + 1 < _t.Length && (tok.Is(Kw.Then) && top.Merge || tok.Is(Kw.Do) && top.Insert))
        {
            // MERGE … WHEN … THEN UPDATE | INSERT | DELETE, INSERT … ON CONFLICT … DO UPDATE: commands of their own
            // (a CASE's THEN is in a frame of its own).
            var action = _t[i + 1].Keyword;
            if (action == Kw.Update || top.Merge && tok.Is(Kw.Then) && action is Kw.Insert or Kw.Delete)
                _s.AddCommand(action == Kw.Update ? "UPDATE" : action == Kw.Insert ? "INSERT" : "DELETE");
        }
        if (top.Kind == FrameKind.Case && EndsCaseEarly(i))
        {
            // Not valid inside CASE … END: "case" was a column label (SELECT ssn case FROM customers … end), and what
            // follows would be read as part of an expression.
            _s.Fail("a clause inside CASE … END (a column named case needs AS)");
            return i + 1;
        }
        switch (tok.Keyword)
        {
            case Kw.Case:
                _s.Frames.Add(new Frame { Kind = FrameKind.Case, CteMark = _s.Ctes.Count });
                return i + 1;
            case Kw.End:
                if (top.Kind == FrameKind.Case)
                    _s.Frames.RemoveAt(_s.Frames.Count - 1);
                return i + 1;
            case Kw.From when Query && !inFunc && top.Kind != FrameKind.Case:
                if (!(i >= 2 && _t[i - 1].Is(Kw.Distinct) && (_t[i - 2].Is(Kw.Is) || _t[i - 2].Is(Kw.Not))))
                {
                    top.InFrom = true;
                    _relPos = i + 1;
                }
                return i + 1;
            case Kw.Join when Query && !inFunc:
                top.InFrom = true;
                _relPos = i + 1;
                return i + 1;
            case Kw.Table when Query:
                _s.Fail("TABLE where no statement can start");
                return i + 1;
            case Kw.Into when Query && !inFunc:
                return SelectInto(i);
            case Kw.For when Query && !inFunc && i + 1 < _t.Length && _t[i + 1].Keyword is Kw.Update or Kw.Share or Kw.No or Kw.Key:
                top.InFrom = false;
                return LockingClause(i);
            case Kw.References when !Query:
                return DottedNameEnd(i + 1);
            case Kw.Union or Kw.Intersect or Kw.Except:
                top.InFrom = false;
                _headPos = i + 1 < _t.Length && _t[i + 1].Keyword is Kw.All or Kw.Distinct ? i + 2 : i + 1;
                return i + 1;
            case Kw.Select or Kw.Values when inFunc:
                // A query among a call's arguments is not valid SQL; a subquery opens its own "(" (NameToken).
                _s.Fail("a query where a function's arguments were expected");
                return i + 1;
            case Kw.Where or Kw.Group or Kw.Having or Kw.Window or Kw.Order or Kw.Limit or Kw.Offset or Kw.Fetch
                or Kw.Returning or Kw.Select or Kw.Values or Kw.Set or Kw.Do or Kw.Conflict or Kw.When or Kw.Then:
                if (top.Kind != FrameKind.Case)
                    top.InFrom = false;
                return i + 1;
        }
        return NameToken(i);
    }

    /// <summary>A clause keyword that cannot stand directly inside CASE … END (IS DISTINCT FROM and WITHIN GROUP can).</summary>
    private readonly bool EndsCaseEarly(int i)
    {
        switch (_t[i].Keyword)
        {
            case Kw.Select or Kw.Values or Kw.Where or Kw.Having or Kw.Window or Kw.Order or Kw.Limit or Kw.Offset
                or Kw.Fetch or Kw.Returning or Kw.Union or Kw.Intersect or Kw.Except or Kw.Into or Kw.Join or Kw.Table:
                return true;
            case Kw.From:
                return !(i >= 2 && _t[i - 1].Is(Kw.Distinct) && (_t[i - 2].Is(Kw.Is) || _t[i - 2].Is(Kw.Not)));
            case Kw.Group:
                return !(i >= 1 && _t[i - 1].Kind == TokenKind.Word
                    && _text.Slice(_t[i - 1].Start, _t[i - 1].Length).Equals("within", StringComparison.OrdinalIgnoreCase));
            default:
                return false;
        }
    }

    private int SelectInto(int i)
    {
        if (_s.Frames.Count != 1 || _s.MainHead != Kw.Select || _s.SelectInto)
        {
            _s.Fail("INTO outside a top-level SELECT");
            return i + 1;
        }
        var j = i + 1;
        while (j < _t.Length && _t[j].Keyword is Kw.Temp or Kw.Temporary or Kw.Unlogged or Kw.Global or Kw.Local or Kw.Table)
            j++;
        var end = DottedName(j, out var name);
        if (name is { } n)
            _s.Add(_s.Writes, n);
        _s.SelectInto = true;
        return end;
    }

    /// <summary>
    /// INSERT's column list: names, fields (<c>c.f</c>) and subscripts (<c>tags[2]</c>, <c>meta['k']</c>). PostgreSQL
    /// evaluates a subscript, so one may hold any expression (a subquery, a call); only constants are accepted here,
    /// anything else makes the statement unknown rather than a part of it no rule or mask looks at.
    /// </summary>
    private int InsertColumns(int j)
    {
        var end = SkipParens(j);
        for (var k = j + 1; k < end - 1; k++)
        {
            if (_t[k].Kind != TokenKind.LBracket)
                continue;
            for (k++; k < end - 1 && _t[k].Kind != TokenKind.RBracket; k++)
            {
                if (_t[k].Kind is not (TokenKind.Number or TokenKind.String or TokenKind.Colon)
                    && !(_t[k].Kind == TokenKind.Operator && _t[k].Length == 1 && _text[_t[k].Start] is '-' or '+'))
                {
                    _s.Fail("INSERT column list with a subscript that is not a constant");
                    return end;
                }
            }
        }
        return end;
    }

    /// <summary>A name PostgreSQL reads as a field or column, or as a call in attribute notation (<see cref="AttributeCalls"/>).</summary>
    private void MayCall(int k)
    {
        if (Names.Normalize(_text, _t[k]) is not { } name)
            return;
        var function = new QualifiedName(null, name);
        _s.Add(_s.AttributeCalls, function);
        if (AttributeCalls.Refusal(name) is { } reason)
            _s.Fail(reason);
        else if (AttributeCalls.CountsAsCall(name))
            _s.Add(_s.Functions, function);
    }

    /// <summary>A name not in a relation position: a function when "(" follows and the word is not syntax.</summary>
    private int NameToken(int i)
    {
        if (i > 0 && _t[i - 1].Kind == TokenKind.Dot)
        {
            if (i + 1 >= _t.Length || _t[i + 1].Kind != TokenKind.LParen)
                MayCall(i);   // (expr).name: a field, or the call name(expr)
            return i + 1;
        }
        var end = DottedNameEnd(i);
        // "word (SELECT …" is never a call: the word is syntax (x BETWEEN (SELECT …), AT TIME ZONE (…), FETCH FIRST
        // (…), xmlserialize(CONTENT (…)), PASSING (…)) and the "(" a subquery, walked as one.
        if (end >= _t.Length || _t[end].Kind != TokenKind.LParen || !IsCall(i, end) || OpensQuery(end + 1))
        {
            for (var k = i + 2; k < end; k += 2)
                MayCall(k);   // q.name, t.c.name: a column or field, or a call on what precedes it
            return end;
        }
        DottedName(i, out var name);
        if (name is { } n)
            Called(n, end);
        else
            _funcParen = end;
        return end;
    }
}
