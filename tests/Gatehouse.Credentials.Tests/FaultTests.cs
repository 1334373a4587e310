using System.Net;
using System.Net.Sockets;

namespace Gatehouse.Credentials.Tests;

[Collection(PostgresCollection.Name)]
public sealed class FaultTests(PostgresFixture pg) : IAsyncDisposable
{
    private readonly BrokerHarness _harness = new();

    [Fact]
    public async Task A_wrong_provisioner_password_is_a_clear_error_and_leaves_nothing()
    {
        var target = pg.Target(change: t => t with { ProvisionerPassword = () => "not-the-password" });

        var result = await _harness.Broker().AcquireAsync(target, "fault-pw", ["app_read"], default);

        await AssertFailedCleanlyAsync(result, "fault_pw", "08004",
            "provisioner gatehouse_provisioner cannot log in: password authentication failed for user \"gatehouse_provisioner\"");
    }

    [Fact]
    public async Task An_unreadable_provisioner_password_is_a_clear_error()
    {
        var target = pg.Target(change: t => t with { ProvisionerPassword = () => File.ReadAllText("/nonexistent/gatehouse-secret") });

        var result = await _harness.Broker().AcquireAsync(target, "fault-file", ["app_read"], default);

        await AssertFailedCleanlyAsync(result, "fault_file", "08004", "the password of provisioner gatehouse_provisioner cannot be read");
    }

    [Fact]
    public async Task A_provisioner_without_CREATEROLE_is_named()
    {
        var target = pg.Target(change: t => t with { ProvisionerUser = "weak_provisioner", ProvisionerPassword = () => PostgresFixture.WeakPassword });

        var result = await _harness.Broker().AcquireAsync(target, "fault-weak", ["app_read"], default);

        await AssertFailedCleanlyAsync(result, "fault_weak", "42501", "provisioner weak_provisioner lacks CREATEROLE");
    }

    [Fact]
    public async Task A_db_role_that_does_not_exist_leaves_no_half_made_role()
    {
        var result = await _harness.Broker().AcquireAsync(pg.Target(), "fault-role", ["app_read", "app_missing"], default);

        await AssertFailedCleanlyAsync(result, "fault_role", "42704", "role app_missing does not exist");
    }

    [Fact]
    public async Task An_unreachable_upstream_is_a_clear_error()
    {
        var target = pg.Target(change: t => t with { Port = ClosedPort() });

        var result = await _harness.Broker().AcquireAsync(target, "fault-down", ["app_read"], default);

        Assert.Equal("08001", result.SqlState);
        Assert.StartsWith($"gatehouse: cannot get a credential for target \"orders\": cannot reach 127.0.0.1:{target.Port}", result.Error, StringComparison.Ordinal);
        Assert.Empty(await _harness.Store.ListAsync(default));
        Assert.Contains("cannot reach", _harness.Logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_role_name_collision_retries_with_a_new_name_and_leaves_the_other_role_alone()
    {
        await pg.Server.ExecuteAsync("CREATE ROLE gh_taken_aaaaaaaaaa NOLOGIN");
        var broker = _harness.Broker();
        var names = new Queue<string>(["gh_taken_aaaaaaaaaa", "gh_taken_bbbbbbbbbb"]);
        broker.RoleNameFactory = _ => names.Dequeue();

        var result = await broker.AcquireAsync(pg.Target(), "taken", ["app_read"], default);

        Assert.Equal("gh_taken_bbbbbbbbbb", result.Login!.User);
        Assert.Empty(await pg.MembershipsAsync("gh_taken_aaaaaaaaaa"));
        Assert.False(await pg.Server.ScalarAsync<bool>("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'gh_taken_aaaaaaaaaa'"));
        Assert.Equal(["gh_taken_bbbbbbbbbb"], (await _harness.Store.ListAsync(default)).Select(r => r.Role));
    }

    [Fact]
    public async Task Repeated_collisions_give_up_with_a_clear_error()
    {
        await pg.Server.ExecuteAsync("CREATE ROLE gh_always_aaaaaaaaaa NOLOGIN");
        var broker = _harness.Broker();
        broker.RoleNameFactory = _ => "gh_always_aaaaaaaaaa";

        var result = await broker.AcquireAsync(pg.Target(), "always", ["app_read"], default);

        Assert.True(result.SqlState == "42710", result.Error);
        Assert.EndsWith("role name gh_always_aaaaaaaaaa is already taken", result.Error, StringComparison.Ordinal);
        Assert.Empty(await _harness.Store.ListAsync(default));
    }

    [Fact]
    public async Task The_startup_check_names_each_missing_privilege_or_role()
    {
        var broker = _harness.Broker();

        Assert.Empty(await broker.CheckAsync(pg.Target(), ["app_read", "app_write"], default));
        Assert.Equal(
            ["provisioner weak_provisioner lacks CREATEROLE", "role app_missing does not exist"],
            await broker.CheckAsync(
                pg.Target("weak", t => t with { ProvisionerUser = "weak_provisioner", ProvisionerPassword = () => PostgresFixture.WeakPassword }),
                ["app_read", "app_missing"], default));
        Assert.Equal(
            ["provisioner gatehouse_provisioner lacks membership in pg_signal_backend (needed by credentials.terminate_on_expiry)"],
            await broker.CheckAsync(pg.Target("term", t => t with { TerminateOnExpiry = true }), ["app_read"], default));
        Assert.Equal(
            ["role postgres is a superuser; Gatehouse will not grant it"],
            await broker.CheckAsync(pg.Target(), ["postgres"], default));
        Assert.Equal(
            ["role nobody_here does not exist"],
            await broker.CheckAsync(pg.Target("rot", t => t with { Mode = UpstreamCredentialMode.Rotate, Role = "nobody_here" }), [], default));
        var down = await broker.CheckAsync(pg.Target("down", t => t with { Port = ClosedPort() }), ["app_read"], default);
        Assert.StartsWith("cannot reach 127.0.0.1:", Assert.Single(down), StringComparison.Ordinal);
        var wrong = await broker.CheckAsync(pg.Target("wrong", t => t with { ProvisionerPassword = () => "nope" }), ["app_read"], default);
        Assert.StartsWith("provisioner gatehouse_provisioner cannot log in", Assert.Single(wrong), StringComparison.Ordinal);
    }

    private async Task AssertFailedCleanlyAsync(CredentialResult result, string slug, string sqlState, string cause)
    {
        Assert.Null(result.Login);
        Assert.Equal(sqlState, result.SqlState);
        Assert.StartsWith($"gatehouse: cannot get a credential for target \"orders\": {cause}", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, await pg.GhRoleCountAsync(slug));
        Assert.Empty(await _harness.Store.ListAsync(default));
        Assert.Contains(cause, _harness.Logger.All, StringComparison.Ordinal);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public ValueTask DisposeAsync() => _harness.DisposeAsync();
}
