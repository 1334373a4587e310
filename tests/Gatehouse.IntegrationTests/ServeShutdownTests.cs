using System.Diagnostics;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>`gatehouse serve` stopped with SIGTERM ends its sessions as PostgreSQL does at shutdown: FATAL 57P01.</summary>
[Collection(GatewayCollection.Name)]
public sealed class ServeShutdownTests(GatewayFixture fixture)
{
    [Fact]
    public async Task A_session_in_a_statement_gets_57P01_when_the_gateway_stops()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        gateway.Start();
        await using var connection = await gateway.OpenAsync(await gateway.TokenAsync("shutdown-victim"));
        await using var command = new NpgsqlCommand("SELECT pg_sleep(5)", connection);
        var running = command.ExecuteNonQueryAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the statement did not start upstream");
            await Task.Delay(100);
        }

        var watch = Stopwatch.StartNew();
        var stopped = gateway.StopAsync(Signals.Terminate);
        var error = await Assert.ThrowsAsync<PostgresException>(() => running);
        Assert.Equal("57P01", error.SqlState);
        Assert.Equal("FATAL", error.Severity);
        Assert.Equal("gatehouse: terminating connection because the gateway is shutting down", error.MessageText);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"the session ended after {watch.Elapsed}, not at the signal");
        var exited = await stopped;
        Assert.True(exited.ExitCode == 0, exited.Stderr);
    }
}
