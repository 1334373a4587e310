using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// Logins through the gateway after the server ended the provisioner's pooled connections: terminated
/// backends and a server restart are absorbed (one retry on a fresh connection); a server that is down gives one
/// clear error with one "gatehouse: " prefix.
/// </summary>
public sealed class ProvisionerRetryTests
{
    private static async Task<string> CurrentUserAsync(TestGateway gateway, string subject)
    {
        await using var connection = await gateway.OpenAsync(gateway.Token(subject));
        await using var command = new NpgsqlCommand("SELECT current_user", connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_login_after_the_provisioners_backends_were_terminated_succeeds()
    {
        await using var gateway = await TestGateway.StartAsync();
        Assert.StartsWith("gh_", await CurrentUserAsync(gateway, "before-terminate"), StringComparison.Ordinal);

        // Every backend Gatehouse itself holds as the provisioner user (the test's own superuser pool is left alone).
        long ended = await gateway.Postgres.ScalarAsync<long>("""
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE usename = 'postgres' AND application_name LIKE 'gatehouse-%' AND pid <> pg_backend_pid()
            """);
        Assert.True(ended >= 1, "the provisioner held no pooled connection to terminate");

        // A new subject needs a new lease, so this login goes through the provisioner's pool.
        Assert.StartsWith("gh_", await CurrentUserAsync(gateway, "after-terminate"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_masked_session_after_an_upstream_restart_reads_the_catalog_afresh()
    {
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions
        {
            Policy = TestData.DefaultPolicy.TrimEnd() + "\n    masks:\n      - { columns: [\"public.customers.email\"], with: redact }\n",
        });
        await using (var before = await gateway.OpenAsync(gateway.Token("masked-before")))
        await using (var command = new NpgsqlCommand("SELECT email FROM customers WHERE id = 1", before))
        {
            Assert.NotEqual("customer1@example.com", await command.ExecuteScalarAsync());
        }

        await gateway.Postgres.RestartAsync();

        // orders was never looked up: the catalog must ask the restarted server, over a connection that works.
        await using var after = await gateway.OpenAsync(gateway.Token("masked-after"));
        await using var count = new NpgsqlCommand("SELECT count(*) FROM orders", after);
        Assert.True(await count.ExecuteScalarAsync() is long);
        await using var email = new NpgsqlCommand("SELECT email FROM customers WHERE id = 1", after);
        Assert.NotEqual("customer1@example.com", await email.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_login_after_an_upstream_restart_succeeds_and_a_stopped_upstream_is_one_clear_error()
    {
        await using var gateway = await TestGateway.StartAsync();
        Assert.StartsWith("gh_", await CurrentUserAsync(gateway, "before-restart"), StringComparison.Ordinal);

        await gateway.Postgres.RestartAsync();
        Assert.StartsWith("gh_", await CurrentUserAsync(gateway, "after-restart"), StringComparison.Ordinal);
        Assert.StartsWith("gh_", await CurrentUserAsync(gateway, "before-restart"), StringComparison.Ordinal);

        await gateway.Postgres.StopImmediatelyAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() => CurrentUserAsync(gateway, "while-down"));
        Assert.StartsWith("gatehouse: cannot get a credential for target \"shop\": cannot reach 127.0.0.1:", error.MessageText, StringComparison.Ordinal);
        Assert.DoesNotContain("gatehouse: gatehouse:", error.MessageText, StringComparison.Ordinal);
    }
}
