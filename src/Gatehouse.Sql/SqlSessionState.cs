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

    // Each name with the facts of its query, the count of hidden-code runs sent before the statement that made it, and
    // (prepared statements) the count of guarded runs then.
    private readonly Dictionary<string, (StatementFacts Facts, long Runs, long GuardedRuns)> _prepared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (StatementFacts Facts, long Runs, long GuardedRuns)> _cursors = new(StringComparer.Ordinal);

    /// <summary>The session's grant has masks (set by the caller): the session is guarded (<see cref="GuardedRuns"/>).</summary>
    public bool Masked { get; set; }

    /// <summary>
    /// In a guarded session (masks, or hidden code was sent), statements sent to run and Syncs that committed after one.
    /// Code Gatehouse does not recognise (a deferred trigger at a commit, a temporary object named like a real one) can
    /// redefine a prepared statement anywhere, so there a prepared statement made before the latest of them, other than
    /// by its own executions, is no longer known to EXECUTE.
    /// </summary>
    public long GuardedRuns { get; private set; }

    public bool Guarded => Masked || HiddenCodeRuns > 0;

    /// <summary>In a guarded session, a statement is sent to run (or a Sync commits); <paramref name="own"/>: the prepared
    /// statements it is (a protocol statement's name, the one its EXECUTE runs), which its own execution leaves known.</summary>
    public void GuardedRunSent(params ReadOnlySpan<string?> own)
    {
        GuardedRuns++;
        foreach (var name in own)
        {
            if (name is not null && _prepared.TryGetValue(name, out var entry))
            {
                _prepared[name] = entry with { GuardedRuns = GuardedRuns };
            }
        }
    }

    /// <summary>
    /// How many statements that may run code Gatehouse does not read (a DO block, a user function) were sent. Such code
    /// can redefine any name (<c>EXECUTE 'DEALLOCATE q; PREPARE q AS …'</c>, a refcursor closed and opened again), so a
    /// name made by a statement sent before the latest of them is no longer known: EXECUTE or FETCH of it is not
    /// understood (refused), never decided as its old query.
    /// </summary>
    public long HiddenCodeRuns { get; private set; }

    /// <summary>A statement that may run hidden code is being sent (before it runs, so later statements see it).</summary>
    public void HiddenCodeSent() => HiddenCodeRuns++;

    /// <summary>Kept for callers that set it; analysis does not depend on it (text is read under both settings).</summary>
    public bool StandardConformingStrings { get; set; } = true;

    /// <summary>How often the analyzer asked for a prepared statement or cursor: facts computed while it did not
    /// change depend on the text alone (<see cref="CachingSqlAnalyzer"/>).</summary>
    public int Lookups { get; private set; }

    /// <summary>
    /// Client side: messages sent that may change what a prepared statement or cursor name means (a named Parse, a
    /// Close, PREPARE, DEALLOCATE, DECLARE, CLOSE). A statement whose analysis looked a name up and was decided before
    /// the latest of them is decided again before it runs (<c>EXECUTE p</c> prepared as a protocol statement runs
    /// whatever <c>p</c> is by then).
    /// </summary>
    public long NameChangesSent { get; private set; }

    public void NameChangeSent() => NameChangesSent++;

    /// <summary>
    /// Set by the wire door: true while a message that changes this prepared statement name was sent and the server
    /// has not answered it. Such a name is not known to the analyzer (EXECUTE of it is refused): what it means on the
    /// server is not settled yet.
    /// </summary>
    public Func<string, bool>? PreparedNameChanging { get; set; }

    /// <summary>The name's prepared statement is being changed by messages the server has not answered (<see cref="PreparedNameChanging"/>).</summary>
    public bool BeingRedefined(string name) => PreparedNameChanging?.Invoke(name) == true;

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

    /// <summary>Registers a prepared statement (SQL PREPARE or a protocol-level named Parse); <paramref name="sentAfter"/>:
    /// the <see cref="HiddenCodeRuns"/> when the statement that made it was sent.</summary>
    public void RegisterPrepared(string name, StatementFacts facts, long sentAfter = long.MaxValue, long guardedAfter = long.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(facts);
        Put(_prepared, name, facts, sentAfter, guardedAfter);
    }

    public bool TryGetPrepared(string name, out StatementFacts facts)
    {
        ArgumentNullException.ThrowIfNull(name);
        Lookups++;
        if (BeingRedefined(name))
        {
            facts = null!;
            return false;
        }

        return Find(_prepared, name, out facts, guarded: true);
    }

    /// <summary>The name is held but was made before hidden code ran (so <see cref="TryGetPrepared"/> and
    /// <see cref="TryGetCursor"/> do not give it).</summary>
    public bool MaybeRedefined(string name, bool cursor) =>
        (cursor ? _cursors : _prepared).TryGetValue(name, out var entry) && Stale(entry, guarded: !cursor);

    private bool Stale((StatementFacts Facts, long Runs, long GuardedRuns) entry, bool guarded) =>
        entry.Runs < HiddenCodeRuns || (guarded && Guarded && entry.GuardedRuns < GuardedRuns);

    private bool Find(Dictionary<string, (StatementFacts Facts, long Runs, long GuardedRuns)> map, string name, out StatementFacts facts, bool guarded = false)
    {
        if (map.TryGetValue(name, out var entry) && !Stale(entry, guarded))
        {
            facts = entry.Facts;
            return true;
        }

        facts = null!;
        return false;
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
        return Find(_cursors, name, out facts);
    }

    /// <summary>Applies what a statement that ran changed in the session. Call it only for statements the server
    /// completed: a refused or failed PREPARE/DECLARE must not replace what the name means. <paramref name="sentAfter"/>:
    /// the <see cref="HiddenCodeRuns"/> when the statement was sent.</summary>
    public void Apply(StatementFacts facts, long sentAfter = long.MaxValue, long guardedAfter = long.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(facts);
        foreach (var effect in facts.Effects)
            Apply(effect, sentAfter, guardedAfter);
    }

    public void Apply(SessionEffect effect, long sentAfter = long.MaxValue, long guardedAfter = long.MaxValue)
    {
        switch (effect)
        {
            // A PREPARE or DECLARE that ran found its name free (the server refuses to redefine one), so an entry
            // of that name here is stale: a cursor the end of its transaction closed, a statement deallocated where
            // the analyzer could not see it. The new facts replace it.
            case SessionEffect.Prepare p:
                Put(_prepared, p.Name, p.Facts, sentAfter, guardedAfter);
                break;
            case SessionEffect.Deallocate d:
                RemovePrepared(d.Name);
                break;
            case SessionEffect.DeclareCursor c:
                Put(_cursors, c.Name, c.Facts, sentAfter, guardedAfter);
                break;
            case SessionEffect.CloseCursor c:
                if (c.Name is null)
                    _cursors.Clear();
                else
                    _cursors.Remove(c.Name);
                break;
        }
    }

    private void Put(Dictionary<string, (StatementFacts Facts, long Runs, long GuardedRuns)> map, string name, StatementFacts facts, long sentAfter, long guardedAfter)
    {
        if (map.Count < MaxEntries || map.ContainsKey(name))
            map[name] = (facts, Math.Min(sentAfter, HiddenCodeRuns), Math.Min(guardedAfter, GuardedRuns));
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
