using Gatehouse.Yaml;

namespace Gatehouse.Policy;

/// <summary>What happened when a changed policy file was read again.</summary>
public sealed class PolicyReloadResult
{
    /// <summary>True: the new policy is in force. False: it was rejected and the previous one stays.</summary>
    public required bool Success { get; init; }

    /// <summary>The snapshot in force after this reload (new on success, the previous one on failure).</summary>
    public required PolicySnapshot Snapshot { get; init; }

    /// <summary>Why the new file was rejected; empty on success.</summary>
    public required IReadOnlyList<YamlError> Errors { get; init; }

    public required DateTimeOffset At { get; init; }
}

/// <summary>Options of <see cref="PolicyStore"/>.</summary>
public sealed class PolicyStoreOptions
{
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Fallback check for filesystems whose change notifications are missing or late.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Quiet time after a change notification before the file is read, so half-written files are not read.</summary>
    public TimeSpan Debounce { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Configured target names; null skips the check that grants name existing targets.</summary>
    public IReadOnlySet<string>? KnownTargets { get; init; }

    /// <summary>False: no watcher, no polling; changes apply only through <see cref="PolicyStore.Reload"/>.</summary>
    public bool Watch { get; init; } = true;

    /// <summary>
    /// False: changes are found by polling alone. For a directory that also holds a busy file (the SQLite state
    /// database and its WAL), whose every write would otherwise wake the watcher.
    /// </summary>
    public bool WatchDirectory { get; init; } = true;
}

/// <summary>The initial policy is invalid: startup must fail. <see cref="Errors"/> holds every problem found.</summary>
public sealed class PolicyLoadException(IReadOnlyList<YamlError> errors)
    : Exception("invalid policy:" + Environment.NewLine + string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<YamlError> Errors { get; } = errors;
}
