using Gatehouse.Yaml;

namespace Gatehouse.Policy;

/// <summary>
/// Holds the policy in force and reloads it when the file changes.
/// <code>
///  FileSystemWatcher (directory) ──► debounce timer ─┐
///  poll timer (stamp stable for one interval) ───────┴─► Check ─► load + validate
///        valid ──► swap Current, raise Reloaded(Success)
///      invalid ──► keep Current, raise Reloaded(errors)    (once per distinct content)
/// </code>
/// </summary>
public sealed class PolicyStore : IDisposable
{
    private static readonly TimeSpan RecentWriteWindow = TimeSpan.FromSeconds(2);

    private readonly PolicyStoreOptions _options;
    private readonly Lock _gate = new();
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer? _pollTimer;
    private readonly ITimer? _debounceTimer;
    private PolicySnapshot _current;
    private string _lastHash;
    private FileStamp _loadedStamp;
    private FileStamp _pendingStamp;
    private bool _disposed;

    private PolicyStore(string path, PolicyStoreOptions options, PolicySnapshot initial)
    {
        Path = path;
        _options = options;
        _current = initial;
        _lastHash = initial.ContentHash;
        _loadedStamp = _pendingStamp = FileStamp.Of(path);
        if (!options.Watch)
        {
            return;
        }

        _debounceTimer = options.Time.CreateTimer(_ => Check(force: true), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _pollTimer = options.Time.CreateTimer(_ => Poll(), null, options.PollInterval, options.PollInterval);
        _watcher = options.WatchDirectory ? TryWatch(path) : null;
    }

    /// <summary>Raised after a changed file was read: valid (swapped in) or not (rejected, previous kept).</summary>
    public event Action<PolicyReloadResult>? Reloaded;

    public string Path { get; }

    /// <summary>The policy in force. Read it once per statement; it changes between statements on reload.</summary>
    public PolicySnapshot Current => Volatile.Read(ref _current);

    /// <summary>Loads <paramref name="path"/>; throws <see cref="PolicyLoadException"/> (startup fails) when it is invalid.</summary>
    public static PolicyStore Open(string path, PolicyStoreOptions? options = null) =>
        TryOpen(path, options, out var errors) ?? throw new PolicyLoadException(errors);

    /// <summary>Loads <paramref name="path"/>; null with every error when it is invalid.</summary>
    public static PolicyStore? TryOpen(string path, PolicyStoreOptions? options, out IReadOnlyList<YamlError> errors)
    {
        options ??= new PolicyStoreOptions();
        var result = PolicyLoader.LoadFile(path, options.KnownTargets, time: options.Time);
        errors = result.Errors;
        return result.Snapshot is { } snapshot ? new PolicyStore(path, options, snapshot) : null;
    }

    /// <summary>
    /// Reads the file now. Null when its content is what was last read (valid or not);
    /// otherwise the outcome, also raised as <see cref="Reloaded"/>.
    /// </summary>
    public PolicyReloadResult? Reload() => Check(force: true);

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }

        _watcher?.Dispose();
        _pollTimer?.Dispose();
        _debounceTimer?.Dispose();
    }

    private FileSystemWatcher? TryWatch(string path)
    {
        try
        {
            var full = System.IO.Path.GetFullPath(path);
            var watcher = new FileSystemWatcher(System.IO.Path.GetDirectoryName(full)!)
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };

            // The whole directory: editors save by rename, Kubernetes swaps a ..data symlink. Unrelated files
            // only cost a read that finds the same hash.
            FileSystemEventHandler onChange = (_, _) => _debounceTimer!.Change(_options.Debounce, Timeout.InfiniteTimeSpan);
            watcher.Changed += onChange;
            watcher.Created += onChange;
            watcher.Deleted += onChange;
            watcher.Renamed += (_, _) => _debounceTimer!.Change(_options.Debounce, Timeout.InfiniteTimeSpan);
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            return null; // polling still covers changes
        }
    }

    /// <summary>Polling debounce: a new stamp must be seen unchanged on two polls in a row before the file is read.</summary>
    private void Poll()
    {
        var stamp = FileStamp.Of(Path);
        lock (_gate)
        {
            if (stamp != _pendingStamp)
            {
                _pendingStamp = stamp;
                return;
            }

            var recent = _options.Time.GetUtcNow() - stamp.WrittenAt < RecentWriteWindow;
            if (stamp == _loadedStamp && !recent)
            {
                return;
            }
        }

        Check(force: false);
    }

    private PolicyReloadResult? Check(bool force)
    {
        PolicyReloadResult result;
        lock (_gate)
        {
            var stamp = FileStamp.Of(Path);
            if (_disposed || (!force && stamp == _loadedStamp && _options.Time.GetUtcNow() - stamp.WrittenAt >= RecentWriteWindow))
            {
                return null;
            }

            var load = PolicyLoader.LoadFile(Path, _options.KnownTargets, time: _options.Time);
            _loadedStamp = stamp;
            if (load.ContentHash == _lastHash)
            {
                return null;
            }

            _lastHash = load.ContentHash;
            if (load.Snapshot is { } snapshot)
            {
                Volatile.Write(ref _current, snapshot);
            }

            result = new PolicyReloadResult
            {
                Success = load.Success,
                Snapshot = Current,
                Errors = load.Errors,
                At = _options.Time.GetUtcNow(),
            };

            try
            {
                Reloaded?.Invoke(result);
            }
            catch (Exception)
            {
                // A faulty subscriber must not stop reloads (this runs on a timer thread).
            }
        }

        return result;
    }

    private readonly record struct FileStamp(DateTimeOffset WrittenAt, long Size)
    {
        public static FileStamp Of(string path)
        {
            try
            {
                FileSystemInfo info = new FileInfo(path);
                if (info.LinkTarget is not null)
                {
                    info = info.ResolveLinkTarget(returnFinalTarget: true) ?? info;
                }

                return info is FileInfo { Exists: true } file ? new FileStamp(file.LastWriteTimeUtc, file.Length) : default;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return default;
            }
        }
    }
}
