using Npgsql;

namespace Gatehouse.Credentials.Tests;

[Collection(PostgresCollection.Name)]
public sealed class RotateTests(PostgresFixture pg) : IAsyncDisposable
{
    private readonly BrokerHarness _harness = new();

    [Fact]
    public async Task The_password_changes_on_schedule_and_open_sessions_keep_working()
    {
        await pg.Server.ExecuteAsync("CREATE ROLE agent_rw LOGIN; GRANT app_read TO agent_rw");
        var target = pg.Target("rot", t => t with { Mode = UpstreamCredentialMode.Rotate, Role = "agent_rw", Every = TimeSpan.FromMinutes(10) });
        _harness.Time.AdvanceIntoNextPeriod(target.Every, TimeSpan.FromSeconds(1));
        var broker = _harness.Broker();
        await broker.StartReaperAsync([target], default);

        var first = (await broker.AcquireAsync(target, "rot-agent", ["app_read"], default)).Login!;
        Assert.Equal("agent_rw", first.User);
        Assert.Null(first.LeaseExpires);
        await using var session = await pg.OpenAsAsync(first.User, first.Password);

        _harness.Time.Advance(TimeSpan.FromMinutes(5));
        await broker.ReapAsync([target], default);
        Assert.Equal(first.Password, (await broker.AcquireAsync(target, "rot-agent", [], default)).Login!.Password);

        _harness.Time.Advance(TimeSpan.FromMinutes(6));
        await broker.ReapAsync([target], default);
        var second = (await broker.AcquireAsync(target, "rot-agent", [], default)).Login!;

        Assert.NotEqual(first.Password, second.Password);
        Assert.Equal(PostgresErrorCodes.InvalidPassword, await pg.TryLoginAsync("agent_rw", first.Password));
        Assert.Null(await pg.TryLoginAsync("agent_rw", second.Password));
        await using (var cmd = new NpgsqlCommand("SELECT count(*) FROM items", session))
            Assert.Equal(1L, await cmd.ExecuteScalarAsync());
        Assert.Equal(2, _harness.Logger.Lines.Count(l => l.Contains("Rotated the password of role agent_rw", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_due_rotation_also_happens_on_acquire_without_the_reaper()
    {
        await pg.Server.ExecuteAsync("CREATE ROLE agent_lazy LOGIN");
        var target = pg.Target("lazy", t => t with { Mode = UpstreamCredentialMode.Rotate, Role = "agent_lazy", Every = TimeSpan.FromMinutes(1) });
        var broker = _harness.Broker();

        var first = (await broker.AcquireAsync(target, "x", [], default)).Login!;
        _harness.Time.Advance(TimeSpan.FromMinutes(2));
        var second = (await broker.AcquireAsync(target, "x", [], default)).Login!;

        Assert.NotEqual(first.Password, second.Password);
        Assert.Null(await pg.TryLoginAsync("agent_lazy", second.Password));
    }

    [Fact]
    public async Task Two_instances_rotating_one_role_agree_on_its_password_without_a_shared_store()
    {
        await pg.Server.ExecuteAsync("CREATE ROLE agent_shared LOGIN");
        var target = pg.Target("shared", t => t with { Mode = UpstreamCredentialMode.Rotate, Role = "agent_shared", Every = TimeSpan.FromMinutes(10) });
        _harness.Time.AdvanceIntoNextPeriod(target.Every, TimeSpan.FromMinutes(3));
        var a = _harness.Broker("instance-a");
        var b = _harness.Broker("instance-b");

        // Each instance sets the period's password when it first needs it; the second's set does not undo the first's.
        var fromA = (await a.AcquireAsync(target, "x", [], default)).Login!;
        var fromB = (await b.AcquireAsync(target, "y", [], default)).Login!;
        Assert.Equal(fromA.Password, fromB.Password);
        Assert.Null(await pg.TryLoginAsync("agent_shared", fromA.Password));

        // The next period: whichever instance moves first, the other's next login uses the same new password.
        _harness.Time.AdvanceIntoNextPeriod(target.Every, TimeSpan.FromSeconds(2));
        await a.ReapAsync([target], default);
        var laterB = (await b.AcquireAsync(target, "y", [], default)).Login!;
        var laterA = (await a.AcquireAsync(target, "x", [], default)).Login!;
        Assert.NotEqual(fromA.Password, laterB.Password);
        Assert.Equal(laterA.Password, laterB.Password);
        Assert.Null(await pg.TryLoginAsync("agent_shared", laterB.Password));
        Assert.Equal(PostgresErrorCodes.InvalidPassword, await pg.TryLoginAsync("agent_shared", fromA.Password));

        // The password is the provisioner's secret at work, never written down: not in the log, not in the store.
        Assert.DoesNotContain(laterA.Password, _harness.Logger.All, StringComparison.Ordinal);
        Assert.DoesNotContain(laterA.Password, await File.ReadAllTextAsync(_harness.StorePath), StringComparison.Ordinal);
    }

    [Fact]
    public void A_period_password_depends_on_the_provisioner_secret_the_role_and_the_period()
    {
        string p = RotationPeriods.Password("secret", "prov", "agent", 42);
        Assert.Equal(p, RotationPeriods.Password("secret", "prov", "agent", 42));
        Assert.Equal(43, p.Length); // 32 bytes, base64url without padding
        Assert.Equal(5, new[]
        {
            p,
            RotationPeriods.Password("Secret", "prov", "agent", 42),
            RotationPeriods.Password("secret", "prov2", "agent", 42),
            RotationPeriods.Password("secret", "prov", "agent2", 42),
            RotationPeriods.Password("secret", "prov", "agent", 43),
        }.Distinct().Count());
        var every = TimeSpan.FromHours(1);
        var start = RotationPeriods.Start(RotationPeriods.Number(DateTimeOffset.UtcNow, every), every);
        Assert.Equal(RotationPeriods.Number(start, every), RotationPeriods.Number(start + every - TimeSpan.FromMilliseconds(1), every));
        Assert.Equal(RotationPeriods.Number(start, every) + 1, RotationPeriods.Number(start + every, every));
    }

    [Fact]
    public async Task Rotating_a_missing_role_is_a_clear_error()
    {
        var target = pg.Target("gone", t => t with { Mode = UpstreamCredentialMode.Rotate, Role = "no_such_role" });

        var result = await _harness.Broker().AcquireAsync(target, "x", [], default);

        Assert.Null(result.Login);
        Assert.Equal("42704", result.SqlState);
        Assert.Equal("gatehouse: cannot get a credential for target \"gone\": role no_such_role does not exist", result.Error);
    }

    [Fact]
    public async Task Rotating_without_CREATEROLE_names_the_missing_privilege()
    {
        await pg.Server.ExecuteAsync("CREATE ROLE agent_locked LOGIN");
        var target = pg.Target("locked", t => t with
        {
            Mode = UpstreamCredentialMode.Rotate,
            Role = "agent_locked",
            ProvisionerUser = "weak_provisioner",
            ProvisionerPassword = () => PostgresFixture.WeakPassword,
        });

        var result = await _harness.Broker().AcquireAsync(target, "x", [], default);

        Assert.Equal("42501", result.SqlState);
        Assert.Contains("provisioner weak_provisioner lacks CREATEROLE", result.Error, StringComparison.Ordinal);
    }

    public ValueTask DisposeAsync() => _harness.DisposeAsync();
}
