namespace Gatehouse.Sql;

/// <summary>CREATE / ALTER / DROP, SET / RESET, and the shared helpers.</summary>
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
        var s = Scratch.Rent(_depth);
        if (tag == "SYSTEM" && verb != Kw.Alter || tag == "DEFAULT PRIVILEGES" && verb != Kw.Alter)
            return Unknown("", "not a valid statement");
        if (tag is "OWNED" && verb == Kw.Drop)
            return Simple("DROP OWNED", StatementClass.Dcl);
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
                return Build(command, cls, s);
            return NameList(command, cls, j);
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
            var inner = Sub(a + 1);
            if (inner.Class == StatementClass.Unknown)
                return Unknown(command, inner.UnknownReason ?? "query not understood");
            if (inner.Command is not ("SELECT" or "EXECUTE") || tag == "VIEW" && inner.Command != "SELECT")
                return Unknown(command, "AS must be followed by a query");
            s = Scratch.Rent(_depth);
            s.Add(s.Writes, target);
            s.Merge(inner);
            return Build(tag == "TABLE" ? "CREATE TABLE AS" : command, StatementClass.Ddl, s);
        }
        if (tag is not ("RULE" or "VIEW" or "MATERIALIZED VIEW") && j < _t.Length)
        {
            QueryWalker.Walk(_text, _t[j..], s, WalkMode.Ddl);
            if (s.Unknown is not null)
                return Unknown(command, s.Unknown);
        }
        return Build(command, cls, s, escalate: false);
    }

    private StatementFacts Set()
    {
        var j = At(1, Kw.Session) || At(1, Kw.Local) ? 2 : 1;
        if (At(1, Kw.Session) && At(2, Kw.Authorization))
            return Simple("SET", StatementClass.Dcl);
        if (At(1, Kw.Session) && W(2, "characteristics") || At(j, Kw.Transaction))
            return Simple("SET", StatementClass.Transaction);
        if (At(j, Kw.Constraints))
            return Simple("SET CONSTRAINTS", StatementClass.Transaction);
        if (j >= _t.Length || !_t[j].IsName || Names.Normalize(_text, _t[j]) is not { } variable)
            return Unknown("SET", "parameter name expected");
        if (variable is "role" or "session_authorization")
            return Simple("SET", StatementClass.Dcl);
        if (variable == "standard_conforming_strings" && j + 2 < _t.Length)
        {
            var v = _text.Slice(_t[j + 2].Start, _t[j + 2].Length).Trim('\'');
            _scs = v.Equals("on", StringComparison.OrdinalIgnoreCase) || v.Equals("true", StringComparison.OrdinalIgnoreCase)
                || v.Equals("default", StringComparison.OrdinalIgnoreCase) || v.Equals("yes", StringComparison.OrdinalIgnoreCase) || v.SequenceEqual("1");
        }
        return Simple("SET", StatementClass.Session);
    }

    private StatementFacts Reset()
    {
        if (_t.Length < 2 || !_t[1].IsName || Names.Normalize(_text, _t[1]) is not { } variable)
            return Unknown("RESET", "parameter name expected");
        if (variable is "role" or "session_authorization" || variable == "session" && At(2, Kw.Authorization))
            return Simple("RESET", StatementClass.Dcl);
        if (variable is "all" or "standard_conforming_strings")
            _scs = true;
        return Simple("RESET", StatementClass.Session);
    }

    // ---- helpers ----

    private readonly StatementFacts Sub(int from) =>
        new StatementAnalyzer(_text, _t[from..], _session, _depth + 1).Analyze(out _);

    private readonly StatementFacts Simple(string command, StatementClass cls) =>
        new() { Start = Start, Length = Length, Command = command, Class = cls };

    private readonly StatementFacts Unknown(string command, string reason) =>
        new() { Start = Start, Length = Length, Command = command, Class = StatementClass.Unknown, UnknownReason = reason };

    private readonly StatementFacts Build(string command, StatementClass cls, Scratch s, bool escalate = true)
    {
        if (s.Unknown is not null)
            return Unknown(command, s.Unknown);
        if (escalate && cls is StatementClass.Read or StatementClass.Write or StatementClass.CopyOut)
            foreach (var f in s.Functions)
                if (f.Schema is null or "pg_catalog" && AdminFunctions.Contains(f.Name))
                    cls = StatementClass.Admin;
        return new StatementFacts
        {
            Start = Start,
            Length = Length,
            Command = command,
            Class = cls,
            ReadRelations = s.Reads.Count == 0 ? [] : s.Reads.ToArray(),
            WrittenRelations = s.Writes.Count == 0 ? [] : s.Writes.ToArray(),
            Functions = s.Functions.Count == 0 ? [] : s.Functions.ToArray(),
            IsLockingRead = s.Locking,
        };
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
