namespace Gatehouse.Sql;

/// <summary>
/// What the analyzer must remember about one client connection: the prepared statements and cursors it can
/// refer to later, each with the facts of its query. The analyzer only reads it; the caller applies a
/// statement's <see cref="StatementFacts.Effects"/> once the statement ran. Bounded: past
/// <see cref="MaxEntries"/> entries of a kind, further ones are not remembered (and then not understood).
/// Not thread-safe.
/// </summary>
public sealed class SqlSessionState
{
    /// <summary>Most prepared statements (and, separately, cursors) remembered per session.</summary>
    public const int MaxEntries = 10_000;

    private readonly Dictionary<string, StatementFacts> _prepared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StatementFacts> _cursors = new(StringComparer.Ordinal);

    /// <summary>Kept for callers that set it; analysis no longer depends on it (both lexing modes must agree).</summary>
    public bool StandardConformingStrings { get; set; } = true;

    public int PreparedCount => _prepared.Count;

    public int CursorCount => _cursors.Count;

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
        return _cursors.TryGetValue(name, out facts!);
    }

    /// <summary>Applies what a statement that ran changed in the session.</summary>
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
            case SessionEffect.Prepare p:
                // The server refuses to redefine an existing name, so an existing entry stays what EXECUTE runs.
                if (!_prepared.ContainsKey(p.Name))
                    Put(_prepared, p.Name, p.Facts);
                break;
            case SessionEffect.Deallocate d:
                RemovePrepared(d.Name);
                break;
            case SessionEffect.DeclareCursor c:
                if (!_cursors.ContainsKey(c.Name))
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
