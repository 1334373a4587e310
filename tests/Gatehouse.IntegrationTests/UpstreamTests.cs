using Gatehouse.Testing;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>The upstream side: TLS modes, authentication methods, and a server that goes away.</summary>
public sealed class UpstreamTests
{
    private static async Task<string?> ScalarTextAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (await command.ExecuteScalarAsync())?.ToString();
    }

    [Fact]
    public async Task Verify_full_tls_with_scram_channel_binding_reaches_the_server_encrypted()
    {
        // The certificate is self-signed, so it is its own CA: verify-full checks chain and host name.
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions
        {
            Postgres = new PostgresServerOptions { Ssl = true, HostAuthMethod = "scram-sha-256" },
            TargetTls = "tls: verify-full\nroot_certificate: {cert}",
        });
        await using var connection = await gateway.OpenAsync();
        Assert.Equal("True", await ScalarTextAsync(connection, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"));
    }

    [Theory]
    [InlineData("md5")]
    [InlineData("password")]
    public async Task Md5_and_cleartext_authentication_upstream_work(string method)
    {
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions
        {
            Postgres = new PostgresServerOptions { HostAuthMethod = method },
        });
        await using var connection = await gateway.OpenAsync();
        Assert.Equal("shop", await ScalarTextAsync(connection, "SELECT current_database()"));
    }

    [Fact]
    public async Task A_target_without_tls_stops_startup_when_tls_is_required()
    {
        var error = await Assert.ThrowsAsync<Hosting.GatewayStartupException>(() => TestGateway.StartAsync(new TestGatewayOptions { TargetTls = "tls: require" }));
        var problem = Assert.Single(error.Problems);
        Assert.StartsWith("target shop: ", problem, StringComparison.Ordinal);
        Assert.Contains("SSL", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_dies_mid_query_gives_the_client_an_error_not_a_hang()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var connection = await gateway.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pg_sleep(30)", connection);
        var running = command.ExecuteNonQueryAsync();
        await Task.Delay(500);
        await gateway.Postgres.StopImmediatelyAsync();
        var started = DateTime.UtcNow;
        await Assert.ThrowsAnyAsync<Exception>(() => running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Plaintext_is_refused_when_tls_is_required()
    {
        await using var gateway = await TestGateway.StartAsync(new TestGatewayOptions { RequireTls = true });
        var error = await Assert.ThrowsAsync<PostgresException>(() => gateway.OpenAsync(ssl: false));
        Assert.Equal("28000", error.SqlState);
        Assert.StartsWith("gatehouse: TLS is required", error.MessageText, StringComparison.Ordinal);
        await using var encrypted = await gateway.OpenAsync(ssl: true);
        Assert.Equal("1", await ScalarTextAsync(encrypted, "SELECT 1"));
    }
}
