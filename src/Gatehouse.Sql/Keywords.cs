using System.Collections.Frozen;

namespace Gatehouse.Sql;

/// <summary>Keywords the analyzer acts on; everything else in the table is <see cref="Other"/> with flags only.</summary>
internal enum Kw : byte
{
    None, Other,
    Abort, All, Alter, Analyse, Analyze, As, Atomic, Authorization, Begin, Call, Case, Checkpoint, Close, Cluster,
    Comment, Commit, Concurrently, Conflict, Constraints, Copy, Create, Cross, Cycle, Deallocate, Declare, Delete,
    Discard, Distinct, Do, Drop, Else, End, Except, Execute, Exists, Explain, Fetch, For, From, Function, Grant,
    Group, Having, If, Import, Insert, Intersect, Into, Is, Join, Key, Lateral, Limit, Listen, Load, Lock, Materialized,
    Merge, Move, No, Not, Notify, Of, Offset, On, Only, Or, Order, Prepare, Prepared, Procedure, Program, Recursive,
    References, Refresh, Reassign, Reindex, Release, Replace, Reset, Returning, Revoke, Role, Rollback, Rows, Savepoint,
    Search, Security, Select, Session, Set, Share, Show, Start, Stdin, Stdout, System, Table, Temp, Temporary, Then,
    To, Transaction, Truncate, Union, Unlisten, Unlogged, Update, Using, Vacuum, Values, Verbose, View, When, Where,
    Window, With, Global, Local, Ordinality, Tablesample, Repeatable, Constraint, Trigger, Unique, Index, Filter, Over,
    Overriding,
}

[Flags]
internal enum KwFlags : byte
{
    None = 0,
    /// <summary>Reserved or type/function-name keyword: never a bare alias.</summary>
    AliasStop = 1,
    /// <summary>Followed by "(" it is syntax, not a function call.</summary>
    NotFunction = 2,
    /// <summary>Reserved keyword (PostgreSQL Appendix C): never an identifier unless quoted.</summary>
    Reserved = 4,
    /// <summary>Not an unreserved keyword: quote_identifier() quotes it.</summary>
    Quoted = 8,
    /// <summary>On a string constant token: continued after a newline ('a'⏎'b' is one literal).</summary>
    Continued = 16,
    /// <summary>On a U&amp;'…' or U&amp;"…" token: it ends with a UESCAPE 'c' clause (<see cref="SqlToken.EscapeIn"/>).</summary>
    Uescape = 32,
}

internal static class Keywords
{
    private const KwFlags S = KwFlags.AliasStop, N = KwFlags.NotFunction, R = KwFlags.Reserved, Q = KwFlags.Quoted;

    private static readonly FrozenDictionary<string, (Kw, KwFlags)> Table = Build();

    // Open addressing over a cheap hash of (length, first, second, last char): cheaper per word than a
    // general dictionary probe, and every identifier in a statement is looked up once.
    private const int Slots = 2048;
    private static readonly (string? Word, Kw Keyword, KwFlags Flags)[] Probe = BuildProbe();

    public static (Kw Keyword, KwFlags Flags) Find(ReadOnlySpan<char> word)
    {
        if (word.Length > 17)
            return default;
        Span<char> lower = stackalloc char[17];
        for (var i = 0; i < word.Length; i++)
        {
            var c = word[i];
            if (char.IsAsciiLetterUpper(c))
                c = (char)(c | 0x20);
            else if (!char.IsAsciiLetterLower(c) && c != '_')
                return default;   // keywords are ASCII letters and '_' only
            lower[i] = c;
        }
        var key = lower[..word.Length];
        for (var slot = Hash(key); ; slot = (slot + 1) & (Slots - 1))
        {
            ref readonly var entry = ref Probe[slot];
            if (entry.Word is null)
                return default;
            if (key.SequenceEqual(entry.Word))
                return (entry.Keyword, entry.Flags);
        }
    }

    private static int Hash(ReadOnlySpan<char> w) =>
        (w.Length * 7919 + w[0] * 31 + w[^1] * 131 + (w.Length > 1 ? w[1] * 17 : 0) + (w.Length > 3 ? w[3] * 3 : 0)) & (Slots - 1);

    private static (string?, Kw, KwFlags)[] BuildProbe()
    {
        var probe = new (string?, Kw, KwFlags)[Slots];
        foreach (var (word, value) in Table)
        {
            var slot = Hash(word);
            while (probe[slot].Item1 is not null)
                slot = (slot + 1) & (Slots - 1);
            probe[slot] = (word, value.Item1, value.Item2);
        }
        return probe;
    }

    private static FrozenDictionary<string, (Kw, KwFlags)> Build()
    {
        var d = new Dictionary<string, (Kw, KwFlags)>(StringComparer.OrdinalIgnoreCase);
        // Reserved keywords (PostgreSQL Appendix C): never a bare alias, never a function name.
        foreach (var w in "all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral leading limit localtime localtimestamp not null offset on only or order placing primary references returning select session_user some symmetric system_user table then to trailing true union unique user using variadic when where window with".Split(' '))
            d[w] = (Kw.Other, S | N | R | Q);
        // type_func_name keywords: never a bare alias; some (left, right) are function names.
        foreach (var w in "authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left like natural notnull outer overlaps right similar tablesample verbose set".Split(' '))
            d[w] = (Kw.Other, S);
        // Column-name and type/function-name keywords of PostgreSQL 15 (pg_get_keywords() catcode C and T):
        // identifiers, but quote_identifier() quotes them.
        foreach (var w in "between bigint bit boolean char character coalesce dec decimal exists extract float greatest grouping inout int integer interval least national nchar none normalize nullif numeric out overlay position precision real row setof smallint substring time timestamp treat trim values varchar xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left like natural notnull outer overlaps right similar tablesample verbose".Split(' '))
            d[w] = d.TryGetValue(w, out var e) ? (e.Item1, e.Item2 | Q) : (Kw.Other, Q);
        // Words that, followed by "(", are syntax rather than a call of a function by that name.
        foreach (var w in "all and any array as case cast check collate constraint create current_time current_timestamp default distinct do else exists from group having in into join lateral localtime localtimestamp not on only or order primary references returning select some table then unique using values when where window with over filter within coalesce greatest least nullif grouping rollup cube sets row interval numeric decimal dec varchar char character varying timestamp time bit float nchar national precision conflict key include partition range list hash materialized rows repeatable tablesample inherits like by is operator set insert xmlconcat xmlexists xmlforest xmlparse xmlpi xmlroot xmlserialize xmlelement xmlattributes xmlnamespaces json_array json_object json_scalar json_serialize json_exists json_query json_value json_objectagg json_arrayagg jsonb_agg_strict treat if".Split(' '))
            d[w] = d.TryGetValue(w, out var f) ? (f.Item1, f.Item2 | N) : (Kw.Other, N);
        foreach (var kw in Enum.GetValues<Kw>())
        {
            if (kw is Kw.None or Kw.Other)
                continue;
            var w = kw.ToString().ToLowerInvariant();
            d[w] = (kw, d.TryGetValue(w, out var g) ? g.Item2 : KwFlags.None);
        }
        return d.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
