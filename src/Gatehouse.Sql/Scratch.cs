namespace Gatehouse.Sql;

internal enum FrameKind : byte { Plain, Func, CteBody, Case }

/// <summary>One parenthesis (or CASE … END) level while walking a statement.</summary>
internal struct Frame
{
    public FrameKind Kind;
    public bool InFrom;      // ',' at this level starts another FROM item
    public bool FromItem;    // this paren is a FROM item: an alias may follow its ')'
    public int CteMark;      // CTE names declared inside are dropped when the level closes
    public string? CteName;  // CteBody of a non-recursive CTE: the name becomes visible after ')'
    public bool Recursive;
    public int Id;           // unique per walk: FROM items remember the level they belong to
    public int InsertCtes;   // an INSERT at this level: 1 + the CTE count before its source; 0: none
    public bool Insert;      // an INSERT starts at this level: its ON CONFLICT DO UPDATE updates
    public bool Merge;       // a MERGE starts at this level: its WHEN … THEN UPDATE | INSERT | DELETE are commands
}

/// <summary>A table in a FROM list: the level it belongs to and its alias token (-1: none), for FOR UPDATE OF.</summary>
internal readonly record struct FromItem(int Frame, QualifiedName Relation, int AliasToken);

/// <summary>Per-statement working state, reused per thread and nesting depth so analysis allocates little.</summary>
internal sealed class Scratch
{
    private const int MaxNames = 4096;

    [ThreadStatic]
    private static Scratch?[]? s_pool;

    public readonly List<QualifiedName> Reads = [];
    public readonly List<QualifiedName> Writes = [];
    public readonly List<QualifiedName> Functions = [];
    public readonly List<QualifiedName> AttributeCalls = [];
    public readonly List<Frame> Frames = [];
    private readonly HashSet<QualifiedName> _seen = [];
    public readonly List<string> Ctes = [];
    public readonly List<PendingCall> Calls = [];
    public readonly List<SettingChange> Settings = [];
    public readonly List<FromItem> FromItems = [];
    public readonly List<QualifiedName> Locked = [];
    /// <summary>Commands run inside the statement (see <see cref="StatementFacts.Commands"/>), without the outer one.</summary>
    public readonly List<string> Commands = [];
    public bool Locking;
    /// <summary>A locking clause without OF, or with an OF name not resolved to a table: every relation is locked.</summary>
    public bool LockAll;
    /// <summary>More FROM items than <see cref="FromItems"/> keeps: FOR UPDATE OF cannot be resolved.</summary>
    public bool FromItemsDropped;
    public bool SelectInto;
    public bool Dml;
    public bool ReadsUnlisted;
    public bool WritesUnlisted;
    public Kw MainHead;
    public string? Unknown;
    /// <summary>How the walked text's plain string literals are read.</summary>
    public StringMode Strings;
    public int NextFrameId;

    public static Scratch Rent(int depth)
    {
        var pool = s_pool ??= new Scratch?[8];
        var s = pool[depth] ??= new Scratch();
        s.Reset();
        return s;
    }

    public void Reset()
    {
        Reads.Clear();
        Writes.Clear();
        Functions.Clear();
        AttributeCalls.Clear();
        Frames.Clear();
        Ctes.Clear();
        Calls.Clear();
        Settings.Clear();
        FromItems.Clear();
        Locked.Clear();
        Commands.Clear();
        _seen.Clear();
        Locking = LockAll = FromItemsDropped = SelectInto = Dml = ReadsUnlisted = WritesUnlisted = false;
        MainHead = Kw.None;
        Unknown = null;
        Strings = StringMode.Standard;
        NextFrameId = 0;
    }

    public void Fail(string reason) => Unknown ??= reason;

    public void Add(List<QualifiedName> list, QualifiedName name)
    {
        // Small lists: a linear scan. Long ones: a set (keyed by list) keeps adversarial input linear.
        if (list.Count < 16 ? list.Contains(name) : !SeenAdd(list, name))
            return;
        if (list.Count >= MaxNames)
            Fail("too many distinct names in one statement");
        else
            list.Add(name);
    }

    private bool SeenAdd(List<QualifiedName> list, QualifiedName name)
    {
        var tag = ReferenceEquals(list, Reads) ? "\u0001r" : ReferenceEquals(list, Writes) ? "\u0001w" : ReferenceEquals(list, Functions) ? "\u0001f" : "\u0001a";
        if (list.Count == 16)
            foreach (var existing in list)
                _seen.Add(existing with { Schema = tag + existing.Schema });
        return _seen.Add(name with { Schema = tag + name.Schema });
    }

    public void AddRead(QualifiedName name)
    {
        if (name.Schema is null && Ctes.Contains(name.Name))
            return;
        Add(Reads, name);
    }

    /// <summary>A relation a locking clause locks: listed as written only.</summary>
    public void MoveToWrites(QualifiedName name)
    {
        Reads.Remove(name);
        Add(Writes, name);
    }

    /// <summary>Adds what a nested statement (EXPLAIN ANALYZE's, EXECUTE's, SQL given as text…) does.</summary>
    public void Merge(StatementFacts inner)
    {
        foreach (var r in inner.ReadRelations) Add(Reads, r);
        foreach (var w in inner.WrittenRelations) Add(Writes, w);
        foreach (var fn in inner.Functions) Add(Functions, fn);
        foreach (var fn in inner.AttributeCalls) Add(AttributeCalls, fn);
        Settings.AddRange(inner.Settings);
        ReadsUnlisted |= inner.ReadsUnlistedRelations;
        WritesUnlisted |= inner.WritesUnlistedRelations;
        Locking |= inner.IsLockingRead;
        AddCommands(inner.Commands);
    }

    /// <summary>A command run inside the statement; a nested plain query (SELECT) is part of it, not a command.</summary>
    public void AddCommand(string command)
    {
        if (command is not ("SELECT" or "") && !Commands.Contains(command))
            Commands.Add(command);
    }

    public void AddCommands(IReadOnlyList<string> commands)
    {
        foreach (var command in commands)
            AddCommand(command);
    }

    /// <summary>Facts' <see cref="StatementFacts.Commands"/>: <paramref name="outer"/>, then the <paramref name="nested"/>
    /// ones (an inner statement's commands, or those a scratch collected) other than SELECT and the outer itself.</summary>
    public static string[] CommandList(string outer, IReadOnlyList<string> nested)
    {
        var count = 0;
        foreach (var c in nested)
            if (Nested(outer, c))
                count++;
        if (count == 0)
            return Single(outer);
        var result = new List<string>(count + 1) { outer };
        foreach (var c in nested)
            if (Nested(outer, c) && !result.Contains(c))
                result.Add(c);
        return [.. result];
    }

    private static bool Nested(string outer, string c) => c is not ("SELECT" or "") && c != outer;

    /// <summary>The shared one-entry list of <paramref name="command"/>: most statements run just their own command,
    /// and tags are a small fixed vocabulary, so this allocates nothing once warm. Facts are read-only, so sharing is safe.</summary>
    public static string[] Single(string command) => s_singles.GetOrAdd(command, static c => [c]);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string[]> s_singles = new(StringComparer.Ordinal);
}
