using System.Collections.Concurrent;
using System.Data.Common;
using Gatehouse.Protocol;
using Gatehouse.State;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Gatehouse.Credentials;

/// <summary>
/// Hands out upstream logins that Gatehouse minted for one identity, and takes them back.
/// <code>
///  AcquireAsync(target, subject, db_roles)
///    │ rotate mode ──► current password of credentials.role (rotated first when due)
///    │ ephemeral:
///    ▼ key = (target, subject, sorted db_roles)          ┌─ per-key gate: one creator at a time
///  live lease in memory? ── yes ─► renew when &lt; 1/3 TTL left ─► session++ ─► login
///    │ no
///    ▼ row in the lease store first (crash ⇒ the reaper finds it)
///  CREATE ROLE gh_&lt;slug&gt;_&lt;rnd&gt; LOGIN VALID UNTIL … PASSWORD 'SCRAM-SHA-256$…'  ┐ one implicit
///  COMMENT ON ROLE … 'gatehouse lease'; GRANT db_role TO … (each)                ┘ transaction
///    │ fails ─► delete row ─► CredentialResult error (name collision: retry a new name)
///    ▼
///  login (dispose = session ended; the lease stays until its TTL)
///
///  reaper (start + every interval), per target:
///    own leases:   in use ─► renew │ idle and over ─► claim row ─► NOLOGIN, [terminate], DROP
///    store rows:   over, any instance (crash leftovers) ─► claim row (compare-and-delete) ─► DROP
///    server roles: gh_ + marker, no row, VALID UNTIL passed ─► DROP
///    rotate:       a new period of `every` ─► ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…' (the period's derived password)
/// </code>
/// A role is dropped only by whoever deleted its expired row, so instances sharing a store never drop a
/// lease another instance keeps renewing.
/// </summary>
public sealed class CredentialBroker : IAsyncDisposable
{
    private const int MaxNameAttempts = 3;
    private static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1);

    private readonly ILeaseStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<CredentialBroker> _logger;
    private readonly ConcurrentDictionary<string, Provisioner> _provisioners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Rotation> _rotations = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private TimeSpan _interval;
    private Task? _reaper;

    public CredentialBroker(ILeaseStore store, TimeProvider time, ILogger<CredentialBroker> logger, string instanceId)
    {
        _store = store;
        _time = time;
        _logger = logger;
        InstanceId = instanceId;
        _interval = ReaperInterval;
    }

    public string InstanceId { get; }

    /// <summary>Longest pause between reaper passes; shortened to a quarter of the shortest TTL or rotation period.</summary>
    public TimeSpan ReaperInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Leases this instance holds now (for /metrics).</summary>
    public int LiveLeases => _leases.Count;

    /// <summary>Sessions currently using this instance's leases (for /metrics).</summary>
    public int LeasedSessions => _leases.Values.Sum(l => l.Sessions);

    /// <summary>Every lease the state store records, this instance's and others', soonest expiry first.</summary>
    public Task<IReadOnlyList<LeaseRecord>> LeasesAsync(CancellationToken ct) => _store.ListAsync(ct);

    /// <summary>Tests replace this to force a name collision.</summary>
    internal Func<string, string> RoleNameFactory { get; set; } = RoleNames.Create;

    /// <summary>
    /// Checks, at start-up, that the target's provisioner can log in and do its job for these db roles
    /// (or, in rotate mode, for credentials.role). Each problem names the missing privilege or role; empty means ready.
    /// </summary>
    public ValueTask<IReadOnlyList<string>> CheckAsync(CredentialTarget target, IEnumerable<string> dbRoles, CancellationToken ct) =>
        ProvisionerFor(target).CheckAsync(dbRoles, ct);

    /// <summary>
    /// A login for this identity on this target with exactly these db roles: a live lease of the same
    /// (subject, target, db roles) when there is one, else a new one. Expected failures come back as
    /// SQLSTATE + message, and leave no role behind.
    /// </summary>
    public async ValueTask<CredentialResult> AcquireAsync(CredentialTarget target, string subject, IReadOnlyList<string> dbRoles, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        var provisioner = ProvisionerFor(target);
        return target.Mode == UpstreamCredentialMode.Rotate
            ? await AcquireRotatedAsync(provisioner, target, subject, ct)
            : await AcquireLeaseAsync(provisioner, target, subject, dbRoles, ct);
    }

    /// <summary>Runs one reaper pass now, then keeps running it in the background until <paramref name="ct"/> or disposal.</summary>
    public async Task StartReaperAsync(IEnumerable<CredentialTarget> targets, CancellationToken ct)
    {
        var list = targets.ToList();
        foreach (var target in list)
            ProvisionerFor(target);
        _interval = Interval(list);
        await ReapAsync(list, ct);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        _reaper = LoopAsync(list, linked);
    }

    /// <summary>One reaper pass: renew leases in use, drop ended ones (also other instances' and crash leftovers), rotate due passwords.</summary>
    public async Task ReapAsync(IEnumerable<CredentialTarget> targets, CancellationToken ct)
    {
        foreach (var target in targets)
        {
            try
            {
                var provisioner = ProvisionerFor(target);
                if (target.Mode == UpstreamCredentialMode.Rotate)
                    await RotateIfDueAsync(provisioner, target, ct);
                else
                    await ReapTargetAsync(provisioner, target, ct);
            }
            catch (Exception ex) when (ex is DbException or IOException or TimeoutException or ProvisionerPasswordException
                                       || (ex is OperationCanceledException && !ct.IsCancellationRequested))
            {
                Log.ReaperFailed(_logger, ex, target.Name);
            }
        }
    }

    /// <summary>Stops the reaper and closes provisioner connections. Leases are left to expire: the next reaper drops them.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
            return;
        await _stopping.CancelAsync();
        if (_reaper is not null)
        {
            try { await _reaper; }
            catch (OperationCanceledException) { }
        }
        foreach (var provisioner in _provisioners.Values)
            await provisioner.DisposeAsync();
        _provisioners.Clear();
        _stopping.Dispose();
    }

    private async ValueTask<CredentialResult> AcquireLeaseAsync(
        Provisioner provisioner, CredentialTarget target, string subject, IReadOnlyList<string> dbRoles, CancellationToken ct)
    {
        string[] roles = [.. dbRoles.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        var key = string.Join('\0', [target.Name, subject, .. roles]);
        var gate = Gate(key);
        await gate.WaitAsync(ct);
        try
        {
            if (_leases.TryGetValue(key, out var lease))
            {
                if (lease.Expires - _time.GetUtcNow() < RenewThreshold(target) && !await RenewLockedAsync(provisioner, target, lease, ct))
                {
                    _leases.TryRemove(new KeyValuePair<string, Lease>(key, lease));
                }
                else
                {
                    Log.LeaseReused(_logger, lease.Role, target.Name, subject);
                    return CredentialResult.Success(Login(lease));
                }
            }

            return await CreateLockedAsync(provisioner, target, subject, key, roles, ct);
        }
        finally
        {
            gate.Release();
        }
    }

    private async ValueTask<CredentialResult> CreateLockedAsync(
        Provisioner provisioner, CredentialTarget target, string subject, string key, string[] roles, CancellationToken ct)
    {
        ProvisionerFailure? failure = null;
        for (var attempt = 0; attempt < MaxNameAttempts; attempt++)
        {
            var now = Millis(_time.GetUtcNow());
            var record = new LeaseRecord(RoleNameFactory(subject), target.Name, subject, roles, InstanceId, now, now + target.Ttl);
            var password = RoleNames.NewPassword();
            try
            {
                // The row goes first: if Gatehouse dies after CREATE ROLE, the reaper still knows about the role.
                await _store.InsertAsync(record, ct);
            }
            catch (DbException ex)
            {
                Log.StoreFailed(_logger, ex, "recording a lease");
                return Fail(target, subject, PostgresErrorCodes.SystemError, "the lease store is unavailable");
            }

            failure = await provisioner.CreateRoleAsync(record.Role, ScramKeys.Verifier(password), record.Expires, roles, ct);
            if (failure is null)
            {
                var lease = new Lease(key, record, password);
                _leases[key] = lease;
                Log.LeaseCreated(_logger, record.Role, target.Name, subject, string.Join(',', roles), record.Expires);
                return CredentialResult.Success(Login(lease));
            }

            await ForgetAsync(record);
            if (!failure.Collision)
                break;
        }
        return Fail(target, subject, failure!.SqlState, failure.Cause);
    }

    private async Task ForgetAsync(LeaseRecord record)
    {
        try
        {
            await _store.DeleteAsync(record.Target, record.Role, CancellationToken.None);
        }
        catch (DbException ex)
        {
            // The row outlives a role that was never made; the reaper drops the row once it expires.
            Log.StoreFailed(_logger, ex, "removing the row of a role that was not created");
        }
    }

    /// <summary>Moves the lease's end to now + TTL, store first. False when the lease is gone or cannot be kept.</summary>
    private async ValueTask<bool> RenewLockedAsync(Provisioner provisioner, CredentialTarget target, Lease lease, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var expires = Millis(now + target.Ttl);
        try
        {
            if (!await _store.RenewAsync(lease.Record.Target, lease.Role, expires, ct))
            {
                Log.RenewFailed(_logger, lease.Role, target.Name, "its lease was ended by a reaper");
                return false;
            }
        }
        catch (DbException ex)
        {
            Log.StoreFailed(_logger, ex, "renewing a lease");
            return lease.Expires > now;
        }

        var failure = await provisioner.RenewAsync(lease.Role, expires, ct);
        if (failure is not null)
        {
            // VALID UNTIL did not move: keep the old end, so the next acquire or pass tries again.
            Log.RenewFailed(_logger, lease.Role, target.Name, failure.Cause);
            return !failure.RoleMissing && lease.Expires > now;
        }

        lease.Expires = expires;

        Log.LeaseRenewed(_logger, lease.Role, target.Name, expires);
        return true;
    }

    private async ValueTask<CredentialResult> AcquireRotatedAsync(Provisioner provisioner, CredentialTarget target, string subject, CancellationToken ct)
    {
        if (target.Role is null)
            return Fail(target, subject, PostgresErrorCodes.SystemError, "credentials.role is not set for mode rotate");

        var rotation = _rotations.GetOrAdd(target.Name, _ => new Rotation());
        await rotation.Gate.WaitAsync(ct);
        try
        {
            if (IsDue(rotation, target))
            {
                var failure = await RotateLockedAsync(provisioner, target, rotation, ct);
                if (failure is not null && rotation.Password is null)
                    return Fail(target, subject, failure.SqlState, failure.Cause);
            }
            return CredentialResult.Success(new UpstreamLogin(target.Role, rotation.Password!, null, null));
        }
        finally
        {
            rotation.Gate.Release();
        }
    }

    private async Task RotateIfDueAsync(Provisioner provisioner, CredentialTarget target, CancellationToken ct)
    {
        if (target.Role is null)
            return;
        var rotation = _rotations.GetOrAdd(target.Name, _ => new Rotation());
        await rotation.Gate.WaitAsync(ct);
        try
        {
            // Also when the provisioner password changed: the period's password is derived from it.
            if (IsDue(rotation, target) || provisioner.RotationPassword(target.Role, rotation.Period).Password != rotation.Password)
                await RotateLockedAsync(provisioner, target, rotation, ct);
        }
        finally
        {
            rotation.Gate.Release();
        }
    }

    private bool IsDue(Rotation rotation, CredentialTarget target) =>
        rotation.Password is null || RotationPeriods.Number(_time.GetUtcNow(), target.Every) != rotation.Period;

    /// <summary>
    /// Sets the current period's password, which every instance computes alike (<see cref="RotationPeriods"/>), so
    /// instances sharing the role agree without a word. Sessions already logged in are unaffected (PostgreSQL checks
    /// passwords only at login); when setting fails, the previous password stays in use.
    /// </summary>
    private async ValueTask<ProvisionerFailure?> RotateLockedAsync(Provisioner provisioner, CredentialTarget target, Rotation rotation, CancellationToken ct)
    {
        long period = RotationPeriods.Number(_time.GetUtcNow(), target.Every);
        var (password, failure) = provisioner.RotationPassword(target.Role!, period);
        if (password is not null)
            failure = await provisioner.SetPasswordAsync(target.Role!, ScramKeys.Verifier(password), ct);
        if (failure is not null)
        {
            Log.RotationFailed(_logger, target.Role!, target.Name, failure.Cause);
            return failure;
        }
        rotation.Password = password;
        rotation.Period = period;
        Log.PasswordRotated(_logger, target.Role!, target.Name);
        return null;
    }

    private async Task ReapTargetAsync(Provisioner provisioner, CredentialTarget target, CancellationToken ct)
    {
        // 1. This instance's leases: renew those in use, end the idle ones that are over.
        foreach (var lease in _leases.Values.Where(l => l.Record.Target == target.Name).ToList())
        {
            var gate = Gate(lease.Key);
            await gate.WaitAsync(ct);
            try
            {
                if (!_leases.TryGetValue(lease.Key, out var current) || current != lease)
                    continue;
                var now = _time.GetUtcNow();
                if (lease.Sessions > 0)
                {
                    if (lease.Expires - now < RenewThreshold(target) && !await RenewLockedAsync(provisioner, target, lease, ct))
                        _leases.TryRemove(new KeyValuePair<string, Lease>(lease.Key, lease));
                }
                else if (lease.Expires <= now)
                {
                    _leases.TryRemove(new KeyValuePair<string, Lease>(lease.Key, lease));
                    if (await _store.ClaimAsync(target.Name, lease.Role, lease.Expires, ct))
                        await DropAsync(provisioner, target, lease.Role, "lease ended", ct);
                }
            }
            finally
            {
                gate.Release();
            }
        }

        // 2. Expired rows nobody here holds: another instance's, or left by a crash. Only the claimer drops.
        foreach (var record in await _store.ExpiredAsync(target.Name, _time.GetUtcNow(), ct))
        {
            if (HoldsRole(record.Role))
                continue;
            if (await _store.ClaimAsync(record.Target, record.Role, record.Expires, ct))
            {
                var reason = record.InstanceId == InstanceId ? "lease ended (left by an earlier run)" : $"lease of instance {record.InstanceId} ended";
                await DropAsync(provisioner, target, record.Role, reason, ct);
            }
        }

        // 3. Marked gh_ roles on the server with no row at all and a VALID UNTIL in the past.
        var cutoff = _time.GetUtcNow();
        foreach (var role in await provisioner.ListLeaseRolesAsync(ct))
        {
            if (!RoleNames.IsLeaseName(role.Name) || role.ValidUntil is not { } validUntil || validUntil > cutoff || HoldsRole(role.Name))
                continue;
            if (!await _store.HasRoleAsync(role.Name, ct))
                await DropAsync(provisioner, target, role.Name, "no lease recorded and VALID UNTIL passed", ct);
        }
    }

    private async Task DropAsync(Provisioner provisioner, CredentialTarget target, string role, string reason, CancellationToken ct)
    {
        var failure = await provisioner.DropRoleAsync(role, ct);
        if (failure is null)
            Log.RoleDropped(_logger, role, target.Name, reason);
        else
            Log.DropFailed(_logger, role, target.Name, failure.Cause);
    }

    private async Task LoopAsync(IReadOnlyList<CredentialTarget> targets, CancellationTokenSource cts)
    {
        using (cts)
        using (var timer = new PeriodicTimer(_interval, _time))
        {
            try
            {
                while (await timer.WaitForNextTickAsync(cts.Token))
                {
                    try
                    {
                        await ReapAsync(targets, cts.Token);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // A bug in one pass must not stop the reaper for good.
                        Log.ReaperFailed(_logger, ex, "*");
                    }
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
            }
        }
    }

    private UpstreamLogin Login(Lease lease)
    {
        lease.AddSession();
        return new UpstreamLogin(lease.Role, lease.Password, lease.Expires, lease.EndSession);
    }

    private bool HoldsRole(string role) => _leases.Values.Any(l => l.Role == role);

    private SemaphoreSlim Gate(string key) => _gates.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));

    /// <summary>Renew when less than a third of the TTL is left, and never later than two reaper passes before the end.</summary>
    private TimeSpan RenewThreshold(CredentialTarget target)
    {
        var third = target.Ttl / 3;
        var twoPasses = _interval * 2;
        return third > twoPasses ? third : twoPasses;
    }

    private TimeSpan Interval(IEnumerable<CredentialTarget> targets)
    {
        var interval = ReaperInterval;
        foreach (var target in targets)
        {
            var period = (target.Mode == UpstreamCredentialMode.Rotate ? target.Every : target.Ttl) / 4;
            if (period < interval)
                interval = period;
        }
        return interval < MinInterval ? MinInterval : interval;
    }

    private Provisioner ProvisionerFor(CredentialTarget target)
    {
        while (true)
        {
            if (_provisioners.TryGetValue(target.Name, out var existing))
            {
                if (SameServer(existing.Target, target))
                {
                    existing.Target = target;
                    return existing;
                }
                if (_provisioners.TryUpdate(target.Name, new Provisioner(target), existing))
                {
                    _ = existing.DisposeAsync().AsTask();
                    return _provisioners[target.Name];
                }
                continue;
            }
            var created = new Provisioner(target);
            if (_provisioners.TryAdd(target.Name, created))
                return created;
            _ = created.DisposeAsync().AsTask();
        }
    }

    private static bool SameServer(CredentialTarget a, CredentialTarget b) =>
        a.Host == b.Host && a.Port == b.Port && a.Database == b.Database && a.SslMode == b.SslMode
        && a.RootCertificatePath == b.RootCertificatePath && a.ProvisionerUser == b.ProvisionerUser;

    private CredentialResult Fail(CredentialTarget target, string subject, string sqlState, string cause)
    {
        Log.LeaseFailed(_logger, target.Name, subject, cause);
        return CredentialResult.Failure(sqlState, $"gatehouse: cannot get a credential for target \"{target.Name}\": {cause}");
    }

    /// <summary>The store keeps milliseconds; compare-and-delete needs the same value in memory.</summary>
    private static DateTimeOffset Millis(DateTimeOffset time) => DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds());
}
