using System.Collections.Concurrent;

namespace Gatehouse.Sql;

/// <summary>
/// Remembers the analysis of query strings whose facts depend on their text alone, so an agent (or a driver) that
/// sends the same statement again is not lexed and walked again. The facts do not depend on the policy, so one
/// cache serves every session and every snapshot. Not cached: an analysis that looked at the session (EXECUTE of a
/// prepared statement, FETCH/MOVE/CLOSE of a cursor, also when found nowhere) or that changes it (PREPARE, DECLARE,
/// DEALLOCATE, DISCARD), and texts longer than <c>maxTextLength</c>. Cached analyses are shared, so they must not
/// be changed: <see cref="SqlAnalysis"/> and <see cref="StatementFacts"/> are read-only. Bounded: past
/// <c>capacity</c> entries it starts afresh, so a stream of distinct texts costs one lookup and one insert each.
/// </summary>
public sealed class CachingSqlAnalyzer(ISqlAnalyzer inner, int capacity = 2048, int maxTextLength = 4096) : ISqlAnalyzer
{
    private readonly ConcurrentDictionary<string, SqlAnalysis> _cache = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>The built-in analyzer behind one process-wide cache.</summary>
    public static CachingSqlAnalyzer Shared { get; } = new(SqlAnalyzer.Instance);

    public SqlAnalysis Analyze(string sql, SqlSessionState session)
    {
        ArgumentNullException.ThrowIfNull(sql);
        ArgumentNullException.ThrowIfNull(session);
        if (sql.Length > maxTextLength)
        {
            return inner.Analyze(sql, session);
        }

        if (_cache.TryGetValue(sql, out var cached))
        {
            return cached;
        }

        int lookups = session.Lookups;
        var analysis = inner.Analyze(sql, session);
        if (session.Lookups != lookups || HasEffects(analysis))
        {
            return analysis;
        }

        if (_cache.TryAdd(sql, analysis) && Interlocked.Increment(ref _count) > capacity)
        {
            _cache.Clear();
            Volatile.Write(ref _count, 0);
        }

        return analysis;
    }

    /// <summary>Entries held now (for tests).</summary>
    public int Count => _cache.Count;

    private static bool HasEffects(SqlAnalysis analysis)
    {
        foreach (var statement in analysis.Statements)
        {
            if (statement.Effects.Count > 0)
            {
                return true;
            }
        }

        return false;
    }
}
