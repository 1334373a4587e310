using Gatehouse.Protocol;
using Npgsql;

namespace Gatehouse.Credentials.Tests;

[Collection(PostgresCollection.Name)]
public sealed class ReaperTests(PostgresFixture pg) : IAsyncDisposable
{
    private readonly BrokerHarness _harness = new();

    [Fact]
    public async Task Leases_left_by_a_crashed_instance_are_reaped_after_a_restart()
    {
        var target = pg.Target(change: t => t with { Ttl = TimeSpan.FromMinutes(2) });
        var crashed = _harness.Broker("instance-old");
        var inUse = (await crashed.AcquireAsync(target, "crash-a", ["app_read"], default)).Login!;
        var idle = (await crashed.AcquireAsync(target, "crash-b", ["app_write"], default)).Login!;
        await idle.DisposeAsync();
        await crashed.DisposeAsync(); // no cleanup, as after SIGKILL: rows and roles stay behind

        var restarted = _harness.Broker("instance-new");
        await restarted.StartReaperAsync([target], default);
        Assert.True(await pg.RoleExistsAsync(inUse.User));
        Assert.True(await pg.RoleExistsAsync(idle.User));

        _harness.Time.Advance(TimeSpan.FromMinutes(3));
        await restarted.ReapAsync([target], default);

        Assert.False(await pg.RoleExistsAsync(inUse.User));
        Assert.False(await pg.RoleExistsAsync(idle.User));
        Assert.Empty(await _harness.Store.ListAsync(default));
        Assert.Contains("lease of instance instance-old ended", _harness.Logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_restart_with_the_same_instance_id_reaps_its_own_leftovers()
    {
        var target = pg.Target(change: t => t with { Ttl = TimeSpan.FromMinutes(2) });
        var before = _harness.Broker("instance-a");
        var login = (await before.AcquireAsync(target, "crash-c", ["app_read"], default)).Login!;
        await before.DisposeAsync();

        var after = _harness.Broker("instance-a");
        _harness.Time.Advance(TimeSpan.FromMinutes(3));
        await after.ReapAsync([target], default);

        Assert.False(await pg.RoleExistsAsync(login.User));
        Assert.Contains("left by an earlier run", _harness.Logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Marked_roles_with_no_lease_row_are_dropped_once_their_validity_passed()
    {
        var target = pg.Target();
        var past = DateTimeOffset.UtcNow.AddMinutes(-5);
        var future = DateTimeOffset.UtcNow.AddHours(1);
        await CreateMarkedRoleAsync("gh_orphan_past000001", past, marked: true);
        await CreateMarkedRoleAsync("gh_orphan_future00001", future, marked: true);
        await CreateMarkedRoleAsync("gh_orphan_nomark00001", past, marked: false);

        await _harness.Broker().ReapAsync([target], default);

        Assert.False(await pg.RoleExistsAsync("gh_orphan_past000001"));
        Assert.True(await pg.RoleExistsAsync("gh_orphan_future00001"));
        Assert.True(await pg.RoleExistsAsync("gh_orphan_nomark00001"));
        Assert.Contains("no lease recorded", _harness.Logger.All, StringComparison.Ordinal);
        await pg.Server.ExecuteAsync("DROP ROLE gh_orphan_future00001; DROP ROLE gh_orphan_nomark00001");
    }

    [Fact]
    public async Task Two_instances_on_one_store_never_drop_each_others_live_roles()
    {
        var target = pg.Target(change: t => t with { Ttl = TimeSpan.FromMinutes(15) });
        var a = _harness.Broker("instance-a");
        var b = _harness.Broker("instance-b");
        var login = (await a.AcquireAsync(target, "shared", ["app_read"], default)).Login!;
        await using var session = await pg.OpenAsAsync(login.User, login.Password);

        await b.ReapAsync([target], default);
        Assert.True(await pg.RoleExistsAsync(login.User));

        // A keeps renewing while its session lives; B's passes after the original end leave it alone.
        for (var i = 0; i < 6; i++)
        {
            _harness.Time.Advance(TimeSpan.FromMinutes(6));
            await a.ReapAsync([target], default);
            await b.ReapAsync([target], default);
            Assert.True(await pg.RoleExistsAsync(login.User));
        }
        await using (var cmd = new NpgsqlCommand("SELECT 1", session))
            Assert.Equal(1, await cmd.ExecuteScalarAsync());

        // Once A's sessions end and the lease runs out, whichever instance passes first drops it, once.
        await login.DisposeAsync();
        _harness.Time.Advance(TimeSpan.FromMinutes(16));
        await b.ReapAsync([target], default);
        await a.ReapAsync([target], default);
        Assert.False(await pg.RoleExistsAsync(login.User));
        Assert.Single(_harness.Logger.Lines, l => l.Contains($"Dropped upstream role {login.User}", StringComparison.Ordinal));

        // A notices its lease is gone and makes a new one instead of handing out the dropped role.
        var fresh = (await a.AcquireAsync(target, "shared", ["app_read"], default)).Login!;
        Assert.NotEqual(login.User, fresh.User);
        Assert.Null(await pg.TryLoginAsync(fresh.User, fresh.Password));
    }

    [Fact]
    public async Task Terminate_on_expiry_ends_the_backends_of_a_leftover_lease()
    {
        await pg.Server.ExecuteAsync($"""
            CREATE ROLE signal_provisioner LOGIN CREATEROLE PASSWORD '{ScramKeys.Verifier("signal-pw")}';
            GRANT pg_signal_backend TO signal_provisioner;
            """);
        var target = pg.Target(change: t => t with
        {
            Ttl = TimeSpan.FromMinutes(1),
            TerminateOnExpiry = true,
            ProvisionerUser = "signal_provisioner",
            ProvisionerPassword = () => "signal-pw",
        });
        var crashed = _harness.Broker("instance-old");
        Assert.Empty(await crashed.CheckAsync(target, ["app_read"], default));
        var login = (await crashed.AcquireAsync(target, "lingering", ["app_read"], default)).Login!;
        await using var session = await pg.OpenAsAsync(login.User, login.Password);
        await crashed.DisposeAsync();

        _harness.Time.Advance(TimeSpan.FromMinutes(2));
        await _harness.Broker("instance-new").ReapAsync([target], default);

        Assert.False(await pg.RoleExistsAsync(login.User));
        await using var cmd = new NpgsqlCommand("SELECT 1", session);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task The_background_reaper_keeps_passing_until_disposed()
    {
        var target = pg.Target(change: t => t with { Ttl = TimeSpan.FromSeconds(4) });
        var broker = _harness.Broker();
        using var stop = new CancellationTokenSource();
        await broker.StartReaperAsync([target], stop.Token);
        var login = (await broker.AcquireAsync(target, "background", ["app_read"], default)).Login!;
        await login.DisposeAsync();

        _harness.Time.Advance(TimeSpan.FromSeconds(5));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await pg.RoleExistsAsync(login.User) && DateTime.UtcNow < deadline)
            await Task.Delay(200);

        Assert.False(await pg.RoleExistsAsync(login.User));
        await stop.CancelAsync();
        await broker.DisposeAsync();
    }

    private Task CreateMarkedRoleAsync(string name, DateTimeOffset validUntil, bool marked) =>
        pg.Server.ExecuteAsync(
            $"CREATE ROLE {name} LOGIN VALID UNTIL {RoleNames.TimestampLiteral(validUntil)};" +
            (marked ? $"COMMENT ON ROLE {name} IS '{RoleNames.Marker}';" : ""));

    public ValueTask DisposeAsync() => _harness.DisposeAsync();
}
