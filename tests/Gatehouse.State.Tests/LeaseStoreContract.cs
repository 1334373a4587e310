using System.Data.Common;

namespace Gatehouse.State.Tests;

/// <summary>
/// What every <see cref="ILeaseStore"/> must do, as the credential broker and its reaper rely on it, and what
/// every store's writer must do (group commit, failures and cancellation that stay with their own write).
/// </summary>
public abstract class LeaseStoreContract(IStateStoreFactory factory) : StoreContract(factory)
{
    protected static LeaseRecord Lease(string role, string target = "orders", DateTimeOffset? expires = null, string subject = "a", string[]? dbRoles = null) =>
        new(role, target, subject, dbRoles ?? [], "i1", Now, expires ?? Now.AddMinutes(1));

    [Fact]
    public async Task Rows_round_trip_with_their_db_roles_and_times()
    {
        var leases = Open().Leases;
        var lease = new LeaseRecord("gh_a_0123456789", "orders", "alice@example.com", ["app_read", "app_write"], "host:42:abc", Now, Now.AddMinutes(15).AddMilliseconds(7));
        await leases.InsertAsync(lease, default);

        var row = Assert.Single(await leases.ListAsync(default));
        Assert.Equal(lease.Role, row.Role);
        Assert.Equal(lease.Target, row.Target);
        Assert.Equal(lease.Subject, row.Subject);
        Assert.Equal(lease.DbRoles, row.DbRoles);
        Assert.Equal(lease.InstanceId, row.InstanceId);
        Assert.Equal(lease.Created, row.Created);
        Assert.Equal(lease.Expires, row.Expires);
    }

    [Fact]
    public async Task Rows_round_trip_and_expire()
    {
        var leases = Open().Leases;
        await leases.InsertAsync(new LeaseRecord("gh_a_0123456789", "orders", "a", ["app_read"], "i1", Now, Now.AddMinutes(1)), default);

        Assert.Empty(await leases.ExpiredAsync("orders", Now, default));
        var expired = Assert.Single(await leases.ExpiredAsync("orders", Now.AddMinutes(1), default));
        Assert.Equal(["app_read"], expired.DbRoles);
        Assert.Equal("i1", expired.InstanceId);
        Assert.True(await leases.HasRoleAsync("gh_a_0123456789", default));
        Assert.False(await leases.HasRoleAsync("gh_b_0123456789", default));
    }

    [Fact]
    public async Task Only_one_claim_wins_and_a_renewal_defeats_a_stale_claim()
    {
        var leases = Open().Leases;
        await leases.InsertAsync(Lease("gh_a_0123456789", expires: Now), default);
        await leases.InsertAsync(Lease("gh_b_0123456789", expires: Now), default);

        Assert.True(await leases.ClaimAsync("orders", "gh_a_0123456789", Now, default));
        Assert.False(await leases.ClaimAsync("orders", "gh_a_0123456789", Now, default));
        Assert.False(await leases.RenewAsync("orders", "gh_a_0123456789", Now.AddMinutes(5), default));

        Assert.True(await leases.RenewAsync("orders", "gh_b_0123456789", Now.AddMinutes(5), default));
        Assert.False(await leases.ClaimAsync("orders", "gh_b_0123456789", Now, default));
        Assert.True(await leases.ClaimAsync("orders", "gh_b_0123456789", Now.AddMinutes(5), default));
        Assert.Empty(await leases.ListAsync(default));
    }

    [Fact]
    public async Task Expired_lists_one_target_soonest_first_and_sees_renewals()
    {
        var leases = Open().Leases;
        await leases.InsertAsync(Lease("gh_late_0123456789", expires: Now.AddMinutes(-1)), default);
        await leases.InsertAsync(Lease("gh_early_0123456789", expires: Now.AddMinutes(-5)), default);
        await leases.InsertAsync(Lease("gh_live_0123456789", expires: Now.AddMinutes(5)), default);
        await leases.InsertAsync(Lease("gh_other_0123456789", target: "reports", expires: Now.AddMinutes(-5)), default);

        Assert.Equal(["gh_early_0123456789", "gh_late_0123456789"], (await leases.ExpiredAsync("orders", Now, default)).Select(l => l.Role));
        Assert.True(await leases.RenewAsync("orders", "gh_early_0123456789", Now.AddMinutes(10), default));
        Assert.Equal(["gh_late_0123456789"], (await leases.ExpiredAsync("orders", Now, default)).Select(l => l.Role));
        Assert.Equal(4, (await leases.ListAsync(default)).Count);
    }

    [Fact]
    public async Task A_role_can_be_leased_once_per_target()
    {
        var leases = Open().Leases;
        await leases.InsertAsync(Lease("gh_a_0123456789"), default);

        await Assert.ThrowsAnyAsync<DbException>(() => leases.InsertAsync(Lease("gh_a_0123456789", subject: "b"), default));
        await leases.InsertAsync(Lease("gh_a_0123456789", target: "reports"), default);
        Assert.Equal(["a", "a"], (await leases.ListAsync(default)).Select(l => l.Subject));
    }

    [Fact]
    public async Task Delete_removes_a_row_whatever_its_expiry_and_ignores_a_missing_one()
    {
        var leases = Open().Leases;
        await leases.InsertAsync(Lease("gh_a_0123456789", expires: Now.AddHours(1)), default);

        await leases.DeleteAsync("orders", "gh_a_0123456789", default);
        await leases.DeleteAsync("orders", "gh_a_0123456789", default);

        Assert.False(await leases.HasRoleAsync("gh_a_0123456789", default));
        Assert.Empty(await leases.ListAsync(default));
    }

    [Fact]
    public async Task Of_two_reapers_on_one_store_exactly_one_claims_each_row()
    {
        var first = Open().Leases;
        var second = Open().Leases;
        var roles = Enumerable.Range(0, 40).Select(i => $"gh_r{i:00}_0123456789").ToList();
        foreach (var role in roles)
            await first.InsertAsync(Lease(role, expires: Now), default);

        var claims = roles.SelectMany(role => new[] { first, second }.Select(leases => (role, claim: Task.Run(() => leases.ClaimAsync("orders", role, Now, default))))).ToList();
        await Task.WhenAll(claims.Select(c => c.claim));

        foreach (var group in claims.GroupBy(c => c.role))
            Assert.Equal(1, group.Count(c => c.claim.Result));
        Assert.Empty(await second.ListAsync(default));
    }

    [Fact]
    public async Task Many_concurrent_writes_all_complete()
    {
        var store = Open();
        var before = store.WriterStats;

        await Task.WhenAll(Enumerable.Range(0, 300).Select(i => Task.Run(() => store.Leases.InsertAsync(Lease($"gh_c{i:000}_0123456789"), default))));

        Assert.Equal(300, (await store.Leases.ListAsync(default)).Count);
        var after = store.WriterStats;
        Assert.Equal(300, after.Writes - before.Writes);
        Assert.InRange(after.Transactions - before.Transactions, 1, 300);
    }

    [Fact]
    public async Task Writes_queued_together_commit_in_fewer_transactions_than_writes()
    {
        var store = Open();
        var before = store.WriterStats;
        List<Task> writes;
        using (Factory.HoldWriter(store))
            writes = [.. Enumerable.Range(0, 100).Select(i => store.Leases.InsertAsync(Lease($"gh_g{i:000}_0123456789"), default))];

        await Task.WhenAll(writes);

        var after = store.WriterStats;
        Assert.Equal(100, after.Writes - before.Writes);
        Assert.InRange(after.Transactions - before.Transactions, 1, 10);
    }

    [Fact]
    public async Task A_queued_write_is_not_visible_until_it_commits()
    {
        var store = Open();
        Task insert;
        using (Factory.HoldWriter(store))
        {
            insert = store.Leases.InsertAsync(Lease("gh_a_0123456789"), default);
            Assert.False(await store.Leases.HasRoleAsync("gh_a_0123456789", default));
            Assert.False(insert.IsCompleted);
        }

        await insert;
        Assert.True(await store.Leases.HasRoleAsync("gh_a_0123456789", default));
    }

    [Fact]
    public async Task A_failing_write_faults_only_its_own_caller()
    {
        var store = Open();
        var leases = store.Leases;
        var before = store.WriterStats;
        Task a, b, duplicate, c;
        using (Factory.HoldWriter(store))
        {
            a = leases.InsertAsync(Lease("gh_a_0123456789"), default);
            b = leases.InsertAsync(Lease("gh_b_0123456789"), default);
            duplicate = leases.InsertAsync(Lease("gh_a_0123456789", subject: "intruder"), default);
            c = leases.InsertAsync(Lease("gh_c_0123456789"), default);
        }

        await Task.WhenAll(a, b, c);
        await Assert.ThrowsAnyAsync<DbException>(() => duplicate);
        Assert.Equal(
            [("gh_a_0123456789", "a"), ("gh_b_0123456789", "a"), ("gh_c_0123456789", "a")],
            (await leases.ListAsync(default)).Select(l => (l.Role, l.Subject)));
        var after = store.WriterStats;
        Assert.Equal(3, after.Writes - before.Writes);
        Assert.Equal(1, after.FailedWrites - before.FailedWrites);
    }

    [Fact]
    public async Task A_write_cancelled_while_queued_is_not_applied()
    {
        var store = Open();
        using var cts = new CancellationTokenSource();
        Task cancelled, kept;
        using (Factory.HoldWriter(store))
        {
            cancelled = store.Leases.InsertAsync(Lease("gh_a_0123456789"), cts.Token);
            kept = store.Leases.InsertAsync(Lease("gh_b_0123456789"), default);
            await cts.CancelAsync();
        }

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        await kept;
        Assert.Equal(["gh_b_0123456789"], (await store.Leases.ListAsync(default)).Select(l => l.Role));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.Leases.InsertAsync(Lease("gh_c_0123456789"), cts.Token));
    }

    [Fact]
    public async Task Disposing_finishes_queued_writes_and_later_calls_fail()
    {
        var store = Open();
        var writes = Enumerable.Range(0, 50).Select(i => store.Leases.InsertAsync(Lease($"gh_d{i:00}_0123456789"), default)).ToList();

        await store.DisposeAsync();

        await Task.WhenAll(writes);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Leases.InsertAsync(Lease("gh_late_0123456789"), default));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Leases.ListAsync(default));
        Assert.Equal(50, (await Open().Leases.ListAsync(default)).Count);
    }
}
