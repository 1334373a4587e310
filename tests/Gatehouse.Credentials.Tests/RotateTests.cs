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
