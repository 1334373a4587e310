using Gatehouse.Policy.Model;

namespace Gatehouse.Proxy;

/// <summary>Concurrent wire sessions per (identity subject, target, grant), for a grant's <c>limits.max_connections</c>.</summary>
public sealed class GrantSessionCounter
{
    private readonly Dictionary<(string Subject, string Target, int Grant, string To), int> _sessions = [];
    private readonly Lock _lock = new();
    private long _refused;

    /// <summary>Logins refused because a grant's max_connections was reached.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Counts one more session; null when the grant's limit is reached (nothing counted then).</summary>
    public IDisposable? TryEnter(string subject, string target, Grant grant)
    {
        var key = (subject, target, grant.Index, grant.To);
        lock (_lock)
        {
            int current = _sessions.GetValueOrDefault(key);
            if (grant.Limits.MaxConnections is { } max && current >= max)
            {
                Interlocked.Increment(ref _refused);
                return null;
            }

            _sessions[key] = current + 1;
        }

        return new Entry(this, key);
    }

    private void Leave((string, string, int, string) key)
    {
        lock (_lock)
        {
            if (--_sessions[key] == 0)
            {
                _sessions.Remove(key);
            }
        }
    }

    private sealed class Entry(GrantSessionCounter owner, (string, string, int, string) key) : IDisposable
    {
        private int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0)
            {
                owner.Leave(key);
            }
        }
    }
}
