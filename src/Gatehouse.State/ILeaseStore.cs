namespace Gatehouse.State;

/// <summary>One lease as recorded in the state store. <see cref="DbRoles"/> is sorted and distinct.</summary>
public sealed record LeaseRecord(
    string Role,
    string Target,
    string Subject,
    IReadOnlyList<string> DbRoles,
    string InstanceId,
    DateTimeOffset Created,
    DateTimeOffset Expires);

/// <summary>
/// Credential leases, so a crash leaves a record the reaper can act on and several instances sharing the
/// store can tell live roles from leftovers. Rows hold no password. A row is removed once its role is gone;
/// the conditional delete in <see cref="ClaimAsync"/> makes exactly one reaper drop a role. Times are kept
/// to the millisecond: compare-and-delete needs the caller to hold the same value.
/// </summary>
public interface ILeaseStore
{
    /// <summary>Records a new lease; fails (a <see cref="System.Data.Common.DbException"/>) if (target, role) is taken.</summary>
    Task InsertAsync(LeaseRecord lease, CancellationToken ct);

    /// <summary>Moves a lease's expiry; false when the row is gone (another reaper claimed it).</summary>
    Task<bool> RenewAsync(string target, string role, DateTimeOffset expires, CancellationToken ct);

    /// <summary>
    /// Removes the row if it still has the expiry the caller saw. True means the caller, and no one else,
    /// now owns dropping the role; false means it was renewed or claimed meanwhile.
    /// </summary>
    Task<bool> ClaimAsync(string target, string role, DateTimeOffset seenExpires, CancellationToken ct);

    /// <summary>Removes the row whatever its expiry; no error when there is none.</summary>
    Task DeleteAsync(string target, string role, CancellationToken ct);

    /// <summary>Leases of a target whose expiry is at or before <paramref name="now"/>, any instance, soonest first.</summary>
    Task<IReadOnlyList<LeaseRecord>> ExpiredAsync(string target, DateTimeOffset now, CancellationToken ct);

    /// <summary>Every recorded lease, soonest expiry first.</summary>
    Task<IReadOnlyList<LeaseRecord>> ListAsync(CancellationToken ct);

    /// <summary>Whether any target has a lease row for this role name.</summary>
    Task<bool> HasRoleAsync(string role, CancellationToken ct);
}
