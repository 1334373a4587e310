using Gatehouse.State;

namespace Gatehouse.Credentials;

/// <summary>A lease this instance holds: its row, its password (memory only) and how many sessions use it.</summary>
internal sealed class Lease(string key, LeaseRecord record, string password)
{
    private int _sessions;

    public string Key { get; } = key;

    public LeaseRecord Record { get; } = record;

    public string Role => Record.Role;

    public string Password { get; } = password;

    /// <summary>Changed only under the lease's gate.</summary>
    public DateTimeOffset Expires { get; set; } = record.Expires;

    public int Sessions => Volatile.Read(ref _sessions);

    public void AddSession() => Interlocked.Increment(ref _sessions);

    public void EndSession() => Interlocked.Decrement(ref _sessions);
}

/// <summary>The current password of a rotated role, memory only.</summary>
internal sealed class Rotation
{
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public string? Password { get; set; }

    /// <summary>The period (<see cref="RotationPeriods"/>) whose password is set.</summary>
    public long Period { get; set; }
}
