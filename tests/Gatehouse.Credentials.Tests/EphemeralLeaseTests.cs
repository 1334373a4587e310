using Npgsql;

namespace Gatehouse.Credentials.Tests;

[Collection(PostgresCollection.Name)]
public sealed class EphemeralLeaseTests(PostgresFixture pg) : IAsyncDisposable
{
    private readonly BrokerHarness _harness = new();

    [Fact]
    public async Task A_lease_is_a_gh_role_with_exactly_the_granted_roles_and_an_expiry()
    {
        var broker = _harness.Broker();
        var target = pg.Target();

        var result = await broker.AcquireAsync(target, "Alice@Example.com", ["app_write", "app_read", "app_read"], default);

        var login = Assert.IsType<UpstreamLogin>(result.Login);
        Assert.Null(result.Error);
        Assert.Matches("^gh_alice_example_com_[a-z0-9]{10}$", login.User);
        Assert.Equal(["app_read", "app_write"], await pg.MembershipsAsync(login.User));
        var validUntil = await pg.Server.ScalarAsync<DateTime>($"SELECT rolvaliduntil FROM pg_roles WHERE rolname = '{login.User}'");
        Assert.InRange(new DateTimeOffset(validUntil, TimeSpan.Zero), _harness.Time.GetUtcNow().AddMinutes(14), _harness.Time.GetUtcNow().AddMinutes(16));
        Assert.Equal(20, await pg.Server.ScalarAsync<int>($"SELECT rolconnlimit FROM pg_roles WHERE rolname = '{login.User}'"));
        Assert.False(await pg.Server.ScalarAsync<bool>($"SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = '{login.User}'"));

        await using var conn = await pg.OpenAsAsync(login.User, login.Password);
        await using var who = new NpgsqlCommand("SELECT current_user, (SELECT count(*) FROM items)", conn);
        await using var reader = await who.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(login.User, reader.GetString(0));
        Assert.Equal(1L, reader.GetInt64(1));
        Assert.Contains(login.User, _harness.Logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Granted_roles_are_the_only_privileges()
    {
        var broker = _harness.Broker();

        var result = await broker.AcquireAsync(pg.Target(), "reader-only", ["app_read"], default);

        await using var conn = await pg.OpenAsAsync(result.Login!.User, result.Login.Password);
        await using var insert = new NpgsqlCommand("INSERT INTO items VALUES (99, 'nope')", conn);
        var ex = await Assert.ThrowsAsync<PostgresException>(() => insert.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, ex.SqlState);
    }

    [Fact]
    public async Task The_same_identity_and_grant_reuse_one_lease()
    {
        var broker = _harness.Broker();
        var target = pg.Target();

        var first = await broker.AcquireAsync(target, "bob", ["app_read"], default);
        var second = await broker.AcquireAsync(target, "bob", ["app_read"], default);
        var otherGrant = await broker.AcquireAsync(target, "bob", ["app_read", "app_write"], default);
        var otherSubject = await broker.AcquireAsync(target, "carol", ["app_read"], default);

        Assert.Equal(first.Login!.User, second.Login!.User);
        Assert.Equal(first.Login.Password, second.Login.Password);
        Assert.NotEqual(first.Login.User, otherGrant.Login!.User);
        Assert.NotEqual(first.Login.User, otherSubject.Login!.User);
        Assert.Equal(1, await pg.GhRoleCountAsync("carol"));
        Assert.Equal(3, broker.LiveLeases);
        Assert.Equal(4, broker.LeasedSessions);
        await first.Login.DisposeAsync();
        await first.Login.DisposeAsync();
        Assert.Equal(3, broker.LeasedSessions);
    }

    [Fact]
    public async Task Concurrent_first_connections_share_one_new_role()
    {
        var broker = _harness.Broker();
        var target = pg.Target();

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => broker.AcquireAsync(target, "burst", ["app_read"], default).AsTask()));

        Assert.Single(results.Select(r => r.Login!.User).Distinct());
        Assert.Equal(1, await pg.GhRoleCountAsync("burst"));
    }

    [Fact]
    public async Task When_the_lease_ends_the_role_is_dropped_and_cannot_log_in()
    {
        var broker = _harness.Broker();
        var target = pg.Target(change: t => t with { Ttl = TimeSpan.FromMinutes(5) });
        var login = (await broker.AcquireAsync(target, "dave", ["app_read"], default)).Login!;
        Assert.Null(await pg.TryLoginAsync(login.User, login.Password));

        await login.DisposeAsync();
        _harness.Time.Advance(TimeSpan.FromMinutes(4));
        await broker.ReapAsync([target], default);
        Assert.True(await pg.RoleExistsAsync(login.User));

        _harness.Time.Advance(TimeSpan.FromMinutes(2));
        await broker.ReapAsync([target], default);

        Assert.False(await pg.RoleExistsAsync(login.User));
        Assert.Equal(PostgresErrorCodes.InvalidPassword, await pg.TryLoginAsync(login.User, login.Password));
        Assert.Empty(await _harness.Store.ListAsync(default));
        Assert.Equal(0, broker.LiveLeases);
        Assert.Contains($"Dropped upstream role {login.User}", _harness.Logger.All, StringComparison.Ordinal);

        var next = (await broker.AcquireAsync(target, "dave", ["app_read"], default)).Login!;
        Assert.NotEqual(login.User, next.User);
    }

    [Fact]
    public async Task A_lease_in_use_is_renewed_instead_of_dropped()
    {
        var broker = _harness.Broker();
        var target = pg.Target(change: t => t with { Ttl = TimeSpan.FromMinutes(6) });
        var login = (await broker.AcquireAsync(target, "erin", ["app_read"], default)).Login!;
        await using var session = await pg.OpenAsAsync(login.User, login.Password);

        for (var i = 0; i < 4; i++)
        {
            _harness.Time.Advance(TimeSpan.FromMinutes(5));
            await broker.ReapAsync([target], default);
        }

        Assert.True(await pg.RoleExistsAsync(login.User));
        var validUntil = await pg.Server.ScalarAsync<DateTime>($"SELECT rolvaliduntil FROM pg_roles WHERE rolname = '{login.User}'");
        Assert.True(new DateTimeOffset(validUntil, TimeSpan.Zero) > _harness.Time.GetUtcNow());
        var row = Assert.Single(await _harness.Store.ListAsync(default));
        Assert.True(row.Expires > _harness.Time.GetUtcNow());
        await using (var cmd = new NpgsqlCommand("SELECT 1", session))
            Assert.Equal(1, await cmd.ExecuteScalarAsync());

        // Reuse near the end renews too, before handing the login out.
        var again = (await broker.AcquireAsync(target, "erin", ["app_read"], default)).Login!;
        Assert.Equal(login.User, again.User);
        Assert.True(again.LeaseExpires > _harness.Time.GetUtcNow().AddMinutes(3));

        await login.DisposeAsync();
        await again.DisposeAsync();
        _harness.Time.Advance(TimeSpan.FromMinutes(7));
        await broker.ReapAsync([target], default);
        Assert.False(await pg.RoleExistsAsync(login.User));
    }

    [Fact]
    public async Task Objects_a_lease_created_go_to_the_configured_owner()
    {
        var broker = _harness.Broker();
        var target = pg.Target(change: t => t with { Ttl = TimeSpan.FromMinutes(1), ReassignOwnedTo = "gatehouse_provisioner" });
        var login = (await broker.AcquireAsync(target, "frank", ["app_write"], default)).Login!;
        await using (var conn = await pg.OpenAsAsync(login.User, login.Password))
        await using (var create = new NpgsqlCommand("CREATE TABLE frank_scratch (id int)", conn))
            await create.ExecuteNonQueryAsync();
        await login.DisposeAsync();

        _harness.Time.Advance(TimeSpan.FromMinutes(2));
        await broker.ReapAsync([target], default);

        Assert.False(await pg.RoleExistsAsync(login.User));
        Assert.Equal("gatehouse_provisioner", await pg.Server.ScalarAsync<string>("SELECT tableowner::text FROM pg_tables WHERE tablename = 'frank_scratch'"));
    }

    [Fact]
    public async Task Without_an_owner_objects_a_lease_created_are_dropped_with_it()
    {
        var broker = _harness.Broker();
        var target = pg.Target(change: t => t with { Ttl = TimeSpan.FromMinutes(1) });
        var login = (await broker.AcquireAsync(target, "gina", ["app_write"], default)).Login!;
        await using (var conn = await pg.OpenAsAsync(login.User, login.Password))
        await using (var create = new NpgsqlCommand("CREATE TABLE gina_scratch (id int)", conn))
            await create.ExecuteNonQueryAsync();
        await login.DisposeAsync();

        _harness.Time.Advance(TimeSpan.FromMinutes(2));
        await broker.ReapAsync([target], default);

        Assert.False(await pg.RoleExistsAsync(login.User));
        Assert.Equal(0L, await pg.Server.ScalarAsync<long>("SELECT count(*) FROM pg_tables WHERE tablename = 'gina_scratch'"));
    }

    [Fact]
    public async Task The_server_log_never_contains_a_plaintext_password()
    {
        var broker = _harness.Broker();
        var ephemeral = pg.Target(change: t => t with { Ttl = TimeSpan.FromMinutes(1) });
        await pg.Server.ExecuteAsync("CREATE ROLE log_rotated LOGIN");
        var rotate = pg.Target("rotated", t => t with { Mode = UpstreamCredentialMode.Rotate, Role = "log_rotated", Every = TimeSpan.FromMinutes(10) });

        var passwords = new List<string>();
        var lease = (await broker.AcquireAsync(ephemeral, "henry", ["app_read"], default)).Login!;
        passwords.Add(lease.Password);
        Assert.Null(await pg.TryLoginAsync(lease.User, lease.Password));
        passwords.Add((await broker.AcquireAsync(rotate, "henry", [], default)).Login!.Password);
        _harness.Time.Advance(TimeSpan.FromMinutes(11));
        await broker.ReapAsync([ephemeral, rotate], default);
        var rotated = (await broker.AcquireAsync(rotate, "henry", [], default)).Login!;
        passwords.Add(rotated.Password);
        Assert.Null(await pg.TryLoginAsync(rotated.User, rotated.Password));

        var log = pg.ServerLog();
        Assert.Contains($"CREATE ROLE \"{lease.User}\"", log, StringComparison.Ordinal);
        Assert.Contains("PASSWORD 'SCRAM-SHA-256$4096:", log, StringComparison.Ordinal);
        foreach (var password in passwords.Distinct())
            Assert.DoesNotContain(password, log, StringComparison.Ordinal);
        Assert.DoesNotContain(PostgresFixture.ProvisionerPassword, log, StringComparison.Ordinal);
        foreach (var password in passwords)
            Assert.DoesNotContain(password, _harness.Logger.All, StringComparison.Ordinal);
    }

    public ValueTask DisposeAsync() => _harness.DisposeAsync();
}
