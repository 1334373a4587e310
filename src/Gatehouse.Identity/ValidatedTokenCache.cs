using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Gatehouse.Identity;

/// <summary>
/// Identities of tokens already verified, keyed by the token's SHA-256, kept until the token expires,
/// so a client reconnecting with one token skips signature verification. Bounded: when full, expired
/// entries go first, then the ones closest to expiry. Holds hashes only, never a token.
/// </summary>
internal sealed class ValidatedTokenCache(int capacity)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _trimLock = new();

    public int Count => _entries.Count;

    public ValidatedIdentity? Find(string tokenHash, ReadOnlySpan<byte> hashBytes)
    {
        if (!_entries.TryGetValue(tokenHash, out var entry))
        {
            return null;
        }

        // The dictionary matched the hex text; confirm on the raw digest in constant time.
        return CryptographicOperations.FixedTimeEquals(entry.Hash, hashBytes) ? entry.Identity : null;
    }

    public void Remove(string tokenHash) => _entries.TryRemove(tokenHash, out _);

    public void Add(ValidatedIdentity identity, byte[] hashBytes, DateTimeOffset now)
    {
        if (_entries.Count >= capacity)
        {
            Trim(now);
        }

        _entries[identity.TokenHash] = new Entry(hashBytes, identity);
    }

    private void Trim(DateTimeOffset now)
    {
        lock (_trimLock)
        {
            if (_entries.Count < capacity)
            {
                return;
            }

            foreach (var (key, entry) in _entries)
            {
                if (entry.Identity.ExpiresAt <= now)
                {
                    _entries.TryRemove(key, out _);
                }
            }

            int excess = _entries.Count - (capacity * 9 / 10);
            if (excess <= 0)
            {
                return;
            }

            foreach (var (key, _) in _entries.OrderBy(e => e.Value.Identity.ExpiresAt).Take(excess).ToList())
            {
                _entries.TryRemove(key, out _);
            }
        }
    }

    private sealed record Entry(byte[] Hash, ValidatedIdentity Identity);
}
