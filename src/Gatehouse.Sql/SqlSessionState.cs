namespace Gatehouse.Sql;

/// <summary>
/// What the analyzer must remember about one client connection: the prepared statements and cursors it can
/// refer to later, each with the facts of its query. The analyzer only reads it; the caller applies a
/// statement's <see cref="StatementFacts.Effects"/> once the statement ran. Bounded: the caller refuses a statement
/// that would pass <see cref="MaxEntries"/> entries of a kind (<see cref="CapProblem"/>); should one still get past,
/// it is not remembered (and then not understood). Not thread-safe.
/// </summary>
public sealed class SqlSessionState
{
    /// <summary>Most prepared statements (and, separately, cursors) remembered per session.</summary>
    public const int MaxEntries = 10_000;

    private readonly Dictionary<string, StatementFacts> _prepared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StatementFacts> _cursors = new(StringComparer.Ordinal);

    /// <summary>Kept for callers that set it; analysis does not depend on it (text is read under both settings).</summary>
    public bool StandardConformingStrings { get; set; } = true;

    /// <summary>How often the analyzer asked for a prepared statement or cursor: facts computed while it did not
    /// change depend on the text alone (<see cref="CachingSqlAnalyzer"/>).</summary>
    internal int Lookups { get; private set; }

    public int PreparedCount => _prepared.Count;

    public int CursorCount => _cursors.Count;

    /// <summary>
    /// Why running <paramref name="statements"/> (or preparing one as <paramref name="preparedName"/>) would pass the
    /// cap on prepared statements or cursors; null when it fits. Counts every new name as if it ran, so a refused
    /// batch is judged as a whole.
    /// </summary>
    public string? CapProblem(IReadOnlyList<StatementFacts> statements, string? preparedName)
    {
        HashSet<string>? newPrepared = null;
        HashSet<string>? newCursors = null;
        if (preparedName is { Length: > 0 } && !_prepared.ContainsKey(preparedName))
        {
            (newPrepared = new(StringComparer.Ordinal)).Add(preparedName);
        }

        foreach (var statement in statements)
        {
            foreach (var effect in statement.Effects)
            {
                if (effect is SessionEffect.Prepare p && !_prepared.ContainsKey(p.Name))
                    (newPrepared ??= new(StringComparer.Ordinal)).Add(p.Name);
                else if (effect is SessionEffect.DeclareCursor c && !_cursors.ContainsKey(c.Name))
                    (newCursors ??= new(StringComparer.Ordinal)).Add(c.Name);
            }
        }

        if (_prepared.Count + (newPrepared?.Count ?? 0) > MaxEntries)
            return $"the session holds {_prepared.Count} prepared statements, the most Gatehouse tracks is {MaxEntries}; DEALLOCATE some first";
        if (_cursors.Count + (newCursors?.Count ?? 0) > MaxEntries)
            return $"the session holds {_cursors.Count} open cursors, the most Gatehouse tracks is {MaxEntries}; CLOSE some first";
        return null;
    }

    /// <summary>Registers a prepared statement (SQL PREPARE or a protocol-level named Parse).</summary>
    public void RegisterPrepared(string name, StatementFacts facts)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(facts);
        Put(_prepared, name, facts);
    }

    public bool TryGetPrepared(string name, out StatementFacts facts)
    {
        ArgumentNullException.ThrowIfNull(name);
        Lookups++;
        return _prepared.TryGetValue(name, out facts!);
    }

    /// <summary>Removes one prepared statement, or all of them when <paramref name="name"/> is null.</summary>
    public void RemovePrepared(string? name)
    {
        if (name is null)
            _prepared.Clear();
        else
            _prepared.Remove(name);
    }

    public bool TryGetCursor(string name, out StatementFacts facts)
    {
        ArgumentNullException.ThrowIfNull(name);
        Lookups++;
        return _cursors.TryGetValue(name, out facts!);
    }

    /// <summary>Applies what a statement that ran changed in the session. Call it only for statements the server
    /// completed: a refused or failed PREPARE/DECLARE must not replace what the name means.</summary>
    public void Apply(StatementFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        foreach (var effect in facts.Effects)
            Apply(effect);
    }

    public void Apply(SessionEffect effect)
    {
        switch (effect)
        {
            // A PREPARE or DECLARE that ran found its name free (the server refuses to redefine one), so an entry
            // of that name here is stale: a cursor the end of its transaction closed, a statement deallocated where
            // the analyzer could not see it. The new facts replace it.
            case SessionEffect.Prepare p:
                Put(_prepared, p.Name, p.Facts);
                break;
            case SessionEffect.Deallocate d:
                RemovePrepared(d.Name);
                break;
            case SessionEffect.DeclareCursor c:
                Put(_cursors, c.Name, c.Facts);
                break;
            case SessionEffect.CloseCursor c:
                if (c.Name is null)
                    _cursors.Clear();
                else
                    _cursors.Remove(c.Name);
                break;
        }
    }

    private static void Put(Dictionary<string, StatementFacts> map, string name, StatementFacts facts)
    {
        if (map.Count < MaxEntries || map.ContainsKey(name))
            map[name] = facts;
    }
}

/// <summary>
/// The effects of the earlier statements of the query string being analyzed, so later ones see them
/// (PREPARE p AS …; EXECUTE p) while the session itself stays untouched. Allocated only once a statement has an
/// effect; bounded like the session (an entry it cannot hold is then not known, so it is not understood).
/// </summary>
internal sealed class SessionOverlay
{
    private readonly Dictionary<string, StatementFacts?> _prepared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StatementFacts?> _cursors = new(StringComparer.Ordinal);
    private bool _preparedCleared;
    private bool _cursorsCleared;

    public static bool TryGetPrepared(SqlSessionState session, SessionOverlay? overlay, string name, out StatementFacts facts) =>
        overlay?.Find(overlay._prepared, overlay._preparedCleared, name, out facts) ?? session.TryGetPrepared(name, out facts);

    public static bool TryGetCursor(SqlSessionState session, SessionOverlay? overlay, string name, out StatementFacts facts) =>
        overlay?.Find(overlay._cursors, overlay._cursorsCleared, name, out facts) ?? session.TryGetCursor(name, out facts);

    /// <summary>True/false when this query string decided the name; null: ask the session.</summary>
    private bool? Find(Dictionary<string, StatementFacts?> map, bool cleared, string name, out StatementFacts facts)
    {
        if (map.TryGetValue(name, out var f))
        {
            facts = f!;
            return f is not null;
        }
        facts = null!;
        return cleared ? false : null;
    }

    public void Apply(IReadOnlyList<SessionEffect> effects)
    {
        foreach (var effect in effects)
        {
            switch (effect)
            {
                case SessionEffect.Prepare p:
                    Put(_prepared, p.Name, p.Facts);
                    break;
                case SessionEffect.Deallocate { Name: null }:
                    _prepared.Clear();
                    _preparedCleared = true;
                    break;
                case SessionEffect.Deallocate d:
                    Put(_prepared, d.Name!, null);
                    break;
                case SessionEffect.DeclareCursor c:
                    Put(_cursors, c.Name, c.Facts);
                    break;
                case SessionEffect.CloseCursor { Name: null }:
                    _cursors.Clear();
                    _cursorsCleared = true;
                    break;
                case SessionEffect.CloseCursor c:
                    Put(_cursors, c.Name!, null);
                    break;
            }
        }
    }

    private static void Put(Dictionary<string, StatementFacts?> map, string name, StatementFacts? facts)
    {
        if (map.Count < SqlSessionState.MaxEntries || map.ContainsKey(name))
            map[name] = facts;
    }
}
