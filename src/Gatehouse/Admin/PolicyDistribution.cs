using System.Data.Common;
using System.Globalization;
using System.Text;
using Gatehouse.Policy;
using Gatehouse.State;
using Gatehouse.Yaml;

namespace Gatehouse.Admin;

/// <summary>The outcome of replacing the policy: its new version, or why not (a status and one line, or the policy's errors).</summary>
internal sealed record PolicyReplaceResult(string? Version, int Status = 200, string? Problem = null, IReadOnlyList<YamlError>? Errors = null);

/// <summary>
/// Replaces the policy through the same path as an edit of the file: validate, write the file atomically
/// (<see cref="PolicyFile"/>), reload through <see cref="PolicyStore"/>. With a PostgreSQL state store the text is
/// first published as a revision (NOTIFY at COMMIT); every instance, this one included, applies the latest revision
/// it has not applied yet by writing its own policy file the same way (docs/design/policy-distribution.md).
/// </summary>
internal sealed class PolicyDistribution : IAsyncDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(5);

    private readonly PolicyStore _policy;
    private readonly IPolicyDocumentStore? _shared;
    private readonly IReadOnlySet<string> _targets;
    private readonly string _instance;
    private readonly string _marker;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private long _applied;

    /// <param name="stateDirectory">Holds <c>policy.revision</c>: the last shared revision this instance applied.</param>
    public PolicyDistribution(PolicyStore policy, IPolicyDocumentStore? shared, IReadOnlySet<string> targets, string instance, string stateDirectory, ILogger logger, TimeProvider time)
    {
        _policy = policy;
        _shared = shared;
        _targets = targets;
        _instance = instance;
        _marker = Path.Combine(stateDirectory, "policy.revision");
        _logger = logger;
        _time = time;
        _applied = File.Exists(_marker) && long.TryParse(File.ReadAllText(_marker).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long seen) ? seen : 0;
    }

    public PolicyStore Store => _policy;

    /// <summary>Validates a candidate exactly as a reload of the file would (same loader, same configured targets).</summary>
    public PolicyLoadResult Validate(ReadOnlySpan<byte> bytes) => PolicyLoader.Parse(bytes, Path.GetFileName(_policy.Path), _targets, _time);

    /// <summary>Applies a shared revision newer than the last one applied (start-up), then follows new ones in the background.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (_shared is null)
        {
            return;
        }

        try
        {
            await CatchUpAsync(ct);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            _logger.LogWarning("Policy revisions could not be read from the state store; the policy file stays in force: {Reason}", ex.Message);
        }

        _loop = Task.Run(() => FollowAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>Replaces the policy; completes once the new policy is in force on this instance.</summary>
    public async Task<PolicyReplaceResult> ReplaceAsync(byte[] bytes, string? ifMatch, string by, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            string current = _policy.Current.ContentHash;
            if (ifMatch is not null && !Matches(ifMatch, current))
            {
                return new PolicyReplaceResult(null, 412, $"the policy in force is version \"{current}\", not {ifMatch}; read it again and retry");
            }

            var load = Validate(bytes);
            if (load.Snapshot is null)
            {
                return new PolicyReplaceResult(null, 422, Errors: load.Errors);
            }

            long? revision = null;
            if (_shared is not null)
            {
                try
                {
                    revision = await _shared.PublishAsync(load.ContentHash, Encoding.UTF8.GetString(bytes), by, _instance, _time.GetUtcNow(), ct);
                }
                catch (Exception ex) when (IsStoreFailure(ex))
                {
                    _logger.LogWarning("A policy revision could not be published: {Reason}", ex.Message);
                    return new PolicyReplaceResult(null, 503, "the state store did not take the new policy; nothing was changed");
                }
            }

            return Apply(bytes, load.ContentHash, revision) is { } problem
                ? new PolicyReplaceResult(null, 500, problem)
                : new PolicyReplaceResult(load.ContentHash);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task FollowAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var changed = _shared!.WaitForChangeAsync(stop); // before the read: a publish during it is not missed
                await CatchUpAsync(stop);
                await changed.WaitAsync(Poll, stop);
            }
            catch (TimeoutException)
            {
                // No notification within the poll interval: read anyway (a notification may have been lost).
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (IsStoreFailure(ex))
            {
                _logger.LogDebug("Policy revisions could not be read, retrying: {Reason}", ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), _time, stop).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private async Task CatchUpAsync(CancellationToken ct)
    {
        var latest = await _shared!.LatestAsync(ct);
        if (latest is null || latest.Revision <= Volatile.Read(ref _applied))
        {
            return;
        }

        await _gate.WaitAsync(ct);
        try
        {
            if (latest.Revision <= _applied)
            {
                return;
            }

            if (Apply(Encoding.UTF8.GetBytes(latest.Source), latest.Version, latest.Revision) is { } problem)
            {
                _logger.LogError("Policy revision {Revision} (published by {By}) was not applied: {Problem}", latest.Revision, latest.PublishedBy, problem);
            }
            else
            {
                _logger.LogInformation("Policy revision {Revision} published by {By} on {Instance} is in force", latest.Revision, latest.PublishedBy, latest.Instance);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    // Under _gate. The file is written and read back by the store's own reload, so this path is the file's path.
    private string? Apply(byte[] bytes, string version, long? revision)
    {
        string? problem = null;
        if (_policy.Current.ContentHash != version)
        {
            problem = PolicyFile.TryReplace(_policy.Path, bytes);
            if (problem is null)
            {
                _policy.Reload();
                if (_policy.Current.ContentHash != version)
                {
                    problem = "the policy file was written, but the reload did not take it (was the file changed again meanwhile?); see the log";
                }
            }
        }

        if (revision is { } number)
        {
            // Recorded even when it failed: a revision this instance cannot take is not retried in a loop.
            Volatile.Write(ref _applied, number);
            try
            {
                File.WriteAllText(_marker, number.ToString(CultureInfo.InvariantCulture) + "\n");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _logger.LogWarning("The applied policy revision could not be recorded in {Path}: {Reason}", _marker, ex.Message);
            }
        }

        return problem;
    }

    private static bool Matches(string ifMatch, string version) =>
        ifMatch.Split(',').Select(v => v.Trim()).Any(v => v == "*" || v.Trim('"') == version || v == $"W/\"{version}\"");

    private static bool IsStoreFailure(Exception ex) =>
        ex is DbException or IOException or InvalidOperationException or TimeoutException or ObjectDisposedException
        || (ex is OperationCanceledException oce && !oce.CancellationToken.IsCancellationRequested);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
        _gate.Dispose();
    }
}
