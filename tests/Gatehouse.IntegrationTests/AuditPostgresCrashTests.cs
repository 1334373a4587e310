using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.IntegrationTests;

/// <summary>kill -9 during a pgbench run on a <c>postgres://</c> state store: every committed transaction is in the trail, which verifies.</summary>
public sealed class AuditPostgresCrashTests(ITestOutputHelper output) : IAsyncLifetime
{
    private TestGateway _bench = null!;

    // Its own PostgreSQL without log_statement; it serves the target and, in another database, the state store.
    public async Task InitializeAsync() => _bench = await TestGateway.StartAsync(new TestGatewayOptions { Postgres = new PostgresServerOptions() });

    public Task DisposeAsync() => _bench.DisposeAsync().AsTask();

    [Fact]
    public async Task Every_transaction_the_server_committed_is_in_the_postgres_trail_after_kill_9()
    {
        var store = await AuditPostgresStore.CreateAsync(_bench);
        await using var gateway = store.Prepare(durability: "os");
        var figures = await PgbenchCrash.RunAsync(_bench, gateway);
        Assert.Equal(figures.Records, await store.ScalarAsync<long>("SELECT count(*) FROM gatehouse_audit_records"));
        output.WriteLine($"postgres store after kill -9: {figures}");
    }
}
