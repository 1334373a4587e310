using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Gatehouse.Proxy;

/// <summary>
/// Maps the BackendKeyData Gatehouse gave each client to its session, so a CancelRequest (which arrives on
/// a new connection) can be forwarded upstream with the real key. Clients never learn upstream keys.
/// </summary>
public sealed class CancelRegistry
{
    private readonly ConcurrentDictionary<int, (int Secret, Func<ValueTask> Cancel)> _sessions = new();

    public (int ProcessId, int Secret) Register(Func<ValueTask> cancel)
    {
        while (true)
        {
            int processId = RandomNumberGenerator.GetInt32(1, int.MaxValue);
            int secret = RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);
            if (_sessions.TryAdd(processId, (secret, cancel)))
            {
                return (processId, secret);
            }
        }
    }

    public void Unregister(int processId) => _sessions.TryRemove(processId, out _);

    /// <summary>Finds the session's cancel action; null when the key is unknown or wrong.</summary>
    public Func<ValueTask>? Find(int processId, int secret)
    {
        if (!_sessions.TryGetValue(processId, out var entry))
        {
            return null;
        }

        Span<byte> expected = stackalloc byte[4];
        Span<byte> given = stackalloc byte[4];
        BitConverter.TryWriteBytes(expected, entry.Secret);
        BitConverter.TryWriteBytes(given, secret);
        return CryptographicOperations.FixedTimeEquals(expected, given) ? entry.Cancel : null;
    }

    public int Count => _sessions.Count;
}
