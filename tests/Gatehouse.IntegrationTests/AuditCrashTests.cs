using Gatehouse.Testing;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// kill -9 of the gateway in the middle of a write-heavy pgbench run: every transaction the server committed
/// (pgbench_history rows, which pgbench only writes after the previous statements were acknowledged) has its
/// INSERT in the trail, and the trail verifies with a note about the missing chain.end.
/// </summary>
public sealed class AuditCrashTests : IAsyncLifetime
{
    private TestGateway _bench = null!;

    // Its own PostgreSQL, without log_statement (pgbench writes thousands of statements a second).
    public async Task InitializeAsync() => _bench = await TestGateway.StartAsync(new TestGatewayOptions { Postgres = new PostgresServerOptions() });

    public Task DisposeAsync() => _bench.DisposeAsync().AsTask();

    [Fact]
    public async Task Every_transaction_the_server_committed_has_its_statements_in_the_trail_after_kill_9()
    {
        await using var gateway = GatewayProcess.Prepare(_bench);
        await PgbenchCrash.RunAsync(_bench, gateway);
    }
}
