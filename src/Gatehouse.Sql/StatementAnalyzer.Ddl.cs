namespace Gatehouse.Sql;

/// <summary>CREATE / ALTER / DROP, and the shared helpers (facts building, nested text, classes).</summary>
internal ref partial struct StatementAnalyzer
{
    private static readonly string[] CreateModifiers =
        ["or", "replace", "temp", "temporary", "unlogged", "global", "local", "unique", "default", "trusted", "procedural", "constraint", "recursive"];

    /// <summary>Object kinds, longest first. Relation kinds name what the statement writes.</summary>
    private static readonly (string Words, string Tag, StatementClass Class, bool Relation)[] Kinds =
    [
        ("text search configuration", "TEXT SEARCH CONFIGURATION", StatementClass.Ddl, false),
        ("text search dictionary", "TEXT SEARCH DICTIONARY", StatementClass.Ddl, false),
        ("text search parser", "TEXT SEARCH PARSER", StatementClass.Ddl, false),
        ("text search template", "TEXT SEARCH TEMPLATE", StatementClass.Ddl, false),
        ("foreign data wrapper", "FOREIGN DATA WRAPPER", StatementClass.Ddl, false),
        ("materialized view", "MATERIALIZED VIEW", StatementClass.Ddl, true),
        ("foreign table", "FOREIGN TABLE", StatementClass.Ddl, true),
        ("event trigger", "EVENT TRIGGER", StatementClass.Ddl, false),
        ("user mapping", "USER MAPPING", StatementClass.Dcl, false),
        ("operator class", "OPERATOR CLASS", StatementClass.Ddl, false),
        ("operator family", "OPERATOR FAMILY", StatementClass.Ddl, false),
        ("access method", "ACCESS METHOD", StatementClass.Ddl, false),
        ("default privileges", "DEFAULT PRIVILEGES", StatementClass.Dcl, false),
        ("large object", "LARGE OBJECT", StatementClass.Ddl, false),
        ("table", "TABLE", StatementClass.Ddl, true),
        ("view", "VIEW", StatementClass.Ddl, true),
        ("index", "INDEX", StatementClass.Ddl, true),
        ("sequence", "SEQUENCE", StatementClass.Ddl, true),
        ("role", "ROLE", StatementClass.Dcl, false),
        ("user", "ROLE", StatementClass.Dcl, false),
        ("group", "ROLE", StatementClass.Dcl, false),
        ("owned", "OWNED", StatementClass.Dcl, false),
        ("system", "SYSTEM", StatementClass.Admin, false),
        ("schema", "SCHEMA", StatementClass.Ddl, false),
        ("function", "FUNCTION", StatementClass.Ddl, false),
        ("procedure", "PROCEDURE", StatementClass.Ddl, false),
        ("routine", "ROUTINE", StatementClass.Ddl, false),
        ("aggregate", "AGGREGATE", StatementClass.Ddl, false),
        ("type", "TYPE", StatementClass.Ddl, false),
        ("domain", "DOMAIN", StatementClass.Ddl, false),
        ("extension", "EXTENSION", StatementClass.Ddl, false),
        ("trigger", "TRIGGER", StatementClass.Ddl, false),
        ("rule", "RULE", StatementClass.Ddl, false),
        ("policy", "POLICY", StatementClass.Ddl, false),
        ("database", "DATABASE", StatementClass.Ddl, false),
        ("tablespace", "TABLESPACE", StatementClass.Ddl, false),
        ("server", "SERVER", StatementClass.Ddl, false),
        ("collation", "COLLATION", StatementClass.Ddl, false),
        ("conversion", "CONVERSION", StatementClass.Ddl, false),
        ("language", "LANGUAGE", StatementClass.Ddl, false),
        ("operator", "OPERATOR", StatementClass.Ddl, false),
        ("cast", "CAST", StatementClass.Ddl, false),
        ("transform", "TRANSFORM", StatementClass.Ddl, false),
        ("statistics", "STATISTICS", StatementClass.Ddl, false),
        ("publication", "PUBLICATION", StatementClass.Ddl, false),
        ("subscription", "SUBSCRIPTION", StatementClass.Ddl, false),
    ];

    private readonly StatementFacts Ddl()
    {
        var verb = _t[0].Keyword;
        var verbText = verb == Kw.Create ? "CREATE" : verb == Kw.Alter ? "ALTER" : "DROP";
        var j = 1;
        if (verb == Kw.Create)
            while (j < _t.Length && _t[j].Kind == TokenKind.Word && Array.IndexOf(CreateModifiers, Lower(j)) >= 0)
                j++;
        var kindIndex = -1;
        var words = 0;
        for (var k = 0; k < Kinds.Length && kindIndex < 0; k++)
        {
            var n = MatchWords(j, Kinds[k].Words);
            if (n > 0) { kindIndex = k; words = n; }
        }
        if (kindIndex < 0)
            return Unknown("", $"{verbText} of an object kind not known to the analyzer");
        var (_, tag, cls, relation) = Kinds[kindIndex];
        var command = verbText + " " + tag;
        j += words;
        var s = Rent();
        if (tag == "SYSTEM" && verb != Kw.Alter || tag == "DEFAULT PRIVILEGES" && verb != Kw.Alter)
            return Unknown("", "not a valid statement");
        // DROP … CASCADE, ALTER … DROP … CASCADE: dependent objects go too (views, columns, other tables'
        // constraints, a schema's tables). DROP OWNED drops every table the roles own.
        s.WritesUnlisted = verb != Kw.Create && HasCascade() || tag is "OWNED" && verb == Kw.Drop;
        if (tag is "OWNED" && verb == Kw.Drop)
            return Build("DROP OWNED", StatementClass.Dcl, s);
        // Only these kinds hold expressions worth walking (defaults, checks, index expressions, trigger functions).
        if (cls != StatementClass.Ddl || !relation && tag is not ("TRIGGER" or "EVENT TRIGGER" or "POLICY" or "DOMAIN" or "FUNCTION" or "PROCEDURE"))
            return Build(command, cls, s);
        if (At(j, Kw.Concurrently))
            j++;
        if (At(j, Kw.If))
            j += At(j + 1, Kw.Not) ? 3 : 2;

        if (verb == Kw.Drop)
        {
            if (!relation)
                return Build(command, cls, s, escalate: false);
            if (!RelationList(j, s, out j))
                return Unknown(command, "object name expected");
            if (W(j, "cascade") || W(j, "restrict"))
                j++;
            if (j != _t.Length)
                return Unknown(command, "CASCADE or RESTRICT expected");
            return Build(command, cls, s, escalate: false);
        }
        if (tag == "INDEX" && verb == Kw.Create)
        {
            if (!At(j, Kw.On))
                j = DottedName(j, out _);
            if (!At(j, Kw.On))
                return Unknown(command, "ON table expected");
            j = At(j + 1, Kw.Only) ? j + 2 : j + 1;
        }
        if (verb == Kw.Alter && At(j, Kw.All))
            return Build(command, cls, s);   // ALTER TABLE ALL IN TABLESPACE …
        if (verb == Kw.Alter && At(j, Kw.Only))
            j++;
        j = DottedName(j, out var name);
        if (name is not { } target)
            return Unknown(command, "object name expected");
        if (relation)
            s.Add(s.Writes, target);
        else if (At(j, TokenKind.LParen))
            j = SkipParens(j);   // a routine's or aggregate's signature
        if (tag is "TRIGGER" or "POLICY" && FindTopLevel(j, Kw.On) is var on and >= 0)
        {
            DottedName(on + 1, out var table);
            if (table is { } tt)
                s.Add(s.Writes, tt);
        }
        if (verb == Kw.Create && tag is "TABLE" or "VIEW" or "MATERIALIZED VIEW" && FindTopLevel(j, Kw.As) is var a and >= 0)
        {
            // CREATE TABLE … AS / CREATE [MATERIALIZED] VIEW … AS: the query's reads, the new relation written.
            // CREATE TABLE … AS EXECUTE name [(params)] [WITH [NO] DATA]: the prepared statement's facts.
            var end = _t.Length;
            if (tag == "TABLE" && At(a + 1, Kw.Execute) && W(end - 1, "data"))
                end -= At(end - 2, Kw.With) ? 2 : At(end - 2, Kw.No) && At(end - 3, Kw.With) ? 3 : 0;
            var inner = new StatementAnalyzer(_text, _t[(a + 1)..end], _session, _overlay, _strings, _depth + 1).Analyze();
            if (inner.Class == StatementClass.Unknown)
                return Unknown(command, inner.UnknownReason ?? "query not understood");
            if (inner.Command is not ("SELECT" or "EXECUTE") || tag != "TABLE" && inner.Command != "SELECT")
                return Unknown(command, "AS must be followed by a query");
            s = Rent();
            s.Add(s.Writes, target);
            s.Merge(inner);
            return Build(tag == "TABLE" ? "CREATE TABLE AS" : command, Join(StatementClass.Ddl, inner.Class), s);
        }
        if (tag is not ("RULE" or "VIEW" or "MATERIALIZED VIEW") && j < _t.Length)
        {
            QueryWalker.Walk(_text, _t[j..], s, WalkMode.Ddl);
            if (s.Unknown is not null)
                return Unknown(command, s.Unknown);
        }
        return Build(command, cls, s, escalate: false);
    }

    // ---- helpers ----

    private readonly Scratch Rent()
    {
        var s = Scratch.Rent(_depth);
        s.Strings = _strings;
        return s;
    }

    private readonly StatementFacts Sub(int from) =>
        new StatementAnalyzer(_text, _t[from..], _session, _overlay, _strings, _depth + 1).Analyze();

    private readonly StatementFacts Simple(string command, StatementClass cls) =>
        new() { Start = Start, Length = Length, Command = command, Class = cls, Commands = Scratch.Single(command) };

    private readonly StatementFacts Unknown(string command, string reason) =>
        new() { Start = Start, Length = Length, Command = command, Class = StatementClass.Unknown, Commands = Scratch.Single(command), UnknownReason = reason };

    /// <summary>The facts of what <paramref name="s"/> collected. Calls of <see cref="ArgumentFunctions"/> are
    /// resolved first (their SQL text analyzed, their relations and cursors looked up); then a call of an
    /// <see cref="AdminFunctions"/> function makes the statement admin, unless <paramref name="escalate"/> is false
    /// (DDL expressions and plain EXPLAIN run nothing now).</summary>
    private readonly StatementFacts Build(string command, StatementClass cls, Scratch s, bool escalate = true)
    {
        if (s.Unknown is null && s.Calls.Count > 0)
            ResolveCalls(s, ref cls);
        if (s.Unknown is not null)
            return Unknown(command, s.Unknown);
        if (escalate && Rank(cls) < Rank(StatementClass.Admin))
            foreach (var f in s.Functions)
                if (f.Schema is null or "pg_catalog" && AdminFunctions.Contains(f.Name))
                    cls = StatementClass.Admin;
        return new StatementFacts
        {
            Start = Start,
            Length = Length,
            Command = command,
            Class = cls,
            Commands = Scratch.CommandList(command, s.Commands),
            ReadRelations = s.Reads.Count == 0 ? [] : s.Reads.ToArray(),
            WrittenRelations = s.Writes.Count == 0 ? [] : s.Writes.ToArray(),
            Functions = s.Functions.Count == 0 ? [] : s.Functions.ToArray(),
            AttributeCalls = s.AttributeCalls.Count == 0 ? [] : s.AttributeCalls.ToArray(),
            IsLockingRead = s.Locking,
            ReadsUnlistedRelations = s.ReadsUnlisted,
            WritesUnlistedRelations = s.WritesUnlisted,
            Settings = s.Settings.Count == 0 ? [] : s.Settings.ToArray(),
        };
    }

    /// <summary>What the calls of functions that take SQL, relations, cursors or settings as text add.</summary>
    private readonly void ResolveCalls(Scratch s, ref StatementClass cls)
    {
        foreach (var call in s.Calls)
        {
            var value = call.Value;
            switch (call.Rule.Role)
            {
                case ArgumentRole.EveryRelation:
                    s.ReadsUnlisted = true;
                    break;
                case ArgumentRole.Sql:
                    if (value is null)
                    {
                        s.Fail($"{call.Function}() of SQL text that is not a literal");
                        return;
                    }
                    if (_depth + 1 >= MaxDepth)
                    {
                        s.Fail("statement nested too deeply");
                        return;
                    }
                    foreach (var inner in SqlAnalyzer.AnalyzeNested(value, _session, _overlay, _depth + 1))
                    {
                        if (inner.Class == StatementClass.Unknown || inner.Effects.Count > 0)
                        {
                            s.Fail($"SQL text of {call.Function}(): {inner.UnknownReason ?? "changes the session's prepared statements or cursors"}");
                            return;
                        }
                        s.Merge(inner);
                        cls = Join(cls, inner.Class);
                    }
                    break;
                case ArgumentRole.ReadRelation or ArgumentRole.WriteRelation:
                    if (value is null || !Literals.TryRelation(value, out var relation))
                    {
                        s.Fail($"{call.Function}() of a relation not named by a literal");
                        return;
                    }
                    if (call.Rule.Role == ArgumentRole.ReadRelation)
                    {
                        if (!s.Writes.Contains(relation))
                            s.Add(s.Reads, relation);
                    }
                    else
                    {
                        s.MoveToWrites(relation);
                        cls = Join(cls, StatementClass.Write);
                    }
                    break;
                case ArgumentRole.Cursor:
                    if (value is null)
                    {
                        s.Fail($"{call.Function}() of a cursor not named by a literal");
                        return;
                    }
                    if (Cursor(value, out var cursor) is { } reason)
                    {
                        s.Fail(reason);
                        return;
                    }
                    s.Merge(cursor);
                    cls = Join(cls, cursor.Class);
                    break;
                case ArgumentRole.Setting:
                    value ??= call.NameColumn is { } qualifier ? PinnedSettingName(qualifier) : null;
                    if (value is null)
                    {
                        s.Fail("set_config() of a parameter not named by a literal");
                        return;
                    }
                    var change = new SettingChange
                    {
                        Name = SettingName(value),
                        Value = call.SecondLiteral ? call.Second : null,
                        Kind = call.SecondLiteral ? SettingValueKind.Literal : SettingValueKind.NotLiteral,
                        IsLocal = call.IsLocal,
                    };
                    s.Settings.Add(change);
                    if (ChangesIdentity(change))
                        cls = Join(cls, StatementClass.Dcl);
                    break;
            }
        }
    }

    /// <summary>
    /// pg_dump's <c>SELECT set_config(name, '…', false) FROM pg_settings WHERE name = 'param'</c>: the statement is
    /// exactly SELECT … FROM [pg_catalog.]pg_settings [[AS] alias] WHERE [q.]name = 'literal' (either side), so every
    /// row's name is that literal (pg_settings.name is text, compared exactly) and the call sets that parameter.
    /// Null for any other shape. (A temporary table named pg_settings would shadow the view, with an equality of
    /// its own; creating one is ddl.)
    /// </summary>
    private readonly string? PinnedSettingName(string qualifier)
    {
        if (!At(0, Kw.Select) || FindTopLevel(1, Kw.From) is not (var from and >= 0))
            return null;
        var j = DottedName(from + 1, out var relation);
        if (relation is not { Name: "pg_settings", Schema: null or "pg_catalog" })
            return null;
        var alias = relation.Value.Name;
        if (At(j, Kw.As))
            j++;
        if (j < _t.Length && !At(j, Kw.Where))
        {
            if (!_t[j].IsName || Names.Normalize(_text, _t[j]) is not { } a)
                return null;
            alias = a;
            j++;
        }
        if (!At(j, Kw.Where) || qualifier.Length > 0 && qualifier != alias)
            return null;
        j++;
        // [q.]name = 'literal' or 'literal' = [q.]name, and nothing else.
        if (NameColumnAt(j, alias) is var left and > 0 && _t.Length == j + left + 2 && IsEquals(j + left))
            return Literals.Value(_text, _t[j + left + 1], _strings);
        if (IsEquals(j + 1) && NameColumnAt(j + 2, alias) is var right and > 0 && _t.Length == j + 2 + right)
            return Literals.Value(_text, _t[j], _strings);
        return null;
    }

    /// <summary>The length (1 or 3) of <c>name</c> or <c>alias.name</c> at <paramref name="j"/>, or 0.</summary>
    private readonly int NameColumnAt(int j, string alias)
    {
        if (j < _t.Length && _t[j].IsName && Names.Normalize(_text, _t[j]) == "name" && !At(j + 1, TokenKind.Dot))
            return 1;
        return j + 2 < _t.Length && _t[j].IsName && Names.Normalize(_text, _t[j]) == alias && At(j + 1, TokenKind.Dot)
            && _t[j + 2].IsName && Names.Normalize(_text, _t[j + 2]) == "name" ? 3 : 0;
    }

    private readonly bool IsEquals(int j) => At(j, TokenKind.Operator) && _t[j].Length == 1 && _text[_t[j].Start] == '=';

    /// <summary>The stronger of two classes, for a statement that does what both do (SQL text run by a function,
    /// a query run by COPY or CREATE TABLE AS).</summary>
    internal static StatementClass Join(StatementClass outer, StatementClass inner) => Rank(inner) > Rank(outer) ? inner : outer;

    private static int Rank(StatementClass c) => c switch
    {
        StatementClass.CopyOut => 1,
        StatementClass.Write => 2,
        StatementClass.Ddl => 3,
        StatementClass.Dcl => 4,
        StatementClass.Code => 5,
        StatementClass.Admin => 6,
        StatementClass.Unknown => 7,
        _ => 0,
    };

    /// <summary>True when a top-level CASCADE (not a foreign key's ON DELETE/UPDATE CASCADE) ends a clause.</summary>
    private readonly bool HasCascade()
    {
        var depth = 0;
        for (var j = 1; j < _t.Length; j++)
        {
            if (_t[j].Kind == TokenKind.LParen) depth++;
            else if (_t[j].Kind == TokenKind.RParen) depth--;
            else if (depth == 0 && W(j, "cascade") && !_t[j - 1].Is(Kw.Delete) && !_t[j - 1].Is(Kw.Update)) return true;
        }
        return false;
    }

    private readonly bool At(int j, Kw kw) => j < _t.Length && _t[j].Is(kw);

    private readonly bool At(int j, TokenKind kind) => j < _t.Length && _t[j].Kind == kind;

    /// <summary>Unquoted word <paramref name="word"/> (lower case) at j.</summary>
    private readonly bool W(int j, string word) =>
        j < _t.Length && _t[j].Kind == TokenKind.Word && _text.Slice(_t[j].Start, _t[j].Length).Equals(word, StringComparison.OrdinalIgnoreCase);

    private readonly string Lower(int j) => _text.Slice(_t[j].Start, _t[j].Length).ToString().ToLowerInvariant();

    private readonly int MatchWords(int j, string words)
    {
        var n = 0;
        foreach (var part in words.Split(' '))
            if (!W(j + n++, part))
                return 0;
        return n;
    }

    /// <summary>True when <paramref name="first"/> occurs (outside parentheses) before <paramref name="second"/>.</summary>
    private readonly bool HasBefore(Kw first, Kw second)
    {
        var depth = 0;
        foreach (ref readonly var t in _t)
        {
            if (t.Kind == TokenKind.LParen) depth++;
            else if (t.Kind == TokenKind.RParen) depth--;
            else if (depth == 0 && t.Is(first)) return true;
            else if (depth == 0 && t.Is(second)) return false;
        }
        return false;
    }

    private readonly int FindTopLevel(int j, Kw kw)
    {
        var depth = 0;
        for (; j < _t.Length; j++)
        {
            if (_t[j].Kind == TokenKind.LParen) depth++;
            else if (_t[j].Kind == TokenKind.RParen) depth--;
            else if (depth == 0 && _t[j].Is(kw)) return j;
        }
        return -1;
    }

    private readonly int SkipParens(int j)
    {
        var depth = 0;
        for (; j < _t.Length; j++)
        {
            if (_t[j].Kind == TokenKind.LParen) depth++;
            else if (_t[j].Kind == TokenKind.RParen && --depth == 0) return j + 1;
        }
        return _t.Length;
    }

    private readonly int DottedName(int j, out QualifiedName? name)
    {
        name = null;
        var start = j;
        if (j >= _t.Length || !_t[j].IsName)
            return j;
        j++;
        while (j + 1 < _t.Length && _t[j].Kind == TokenKind.Dot && _t[j + 1].IsName)
            j += 2;
        var parts = (j - start + 1) / 2;
        if (parts > 3 || (_t[start].Flags & KwFlags.AliasStop) != 0 && _t[start].Kind == TokenKind.Word)
            return j;
        var last = Names.Normalize(_text, _t[j - 1]);
        var schema = parts > 1 ? Names.Normalize(_text, _t[j - 3]) : null;
        if (last is not null && (parts == 1 || schema is not null))
            name = new QualifiedName(schema, last);
        return j;
    }
}
