using System.Diagnostics;
using System.Net;
using Npgsql;
using Xunit.Abstractions;

namespace Gatehouse.IntegrationTests;

public sealed class ReviewProcessFixture : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = ReviewSupport.Policy("hold", "2m") });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>Reviews across `gatehouse serve` processes: two instances on one PostgreSQL store, and a restart while a statement is held.</summary>
public sealed class ReviewInstanceTests(ReviewProcessFixture fixture, ITestOutputHelper output) : IClassFixture<ReviewProcessFixture>
{
    private static NpgsqlCommand Held(NpgsqlConnection connection, string marker) =>
        new($"INSERT INTO payments (card_number) VALUES ('{marker}') RETURNING card_number", connection) { CommandTimeout = 60 };

    [Fact]
    public async Task A_decision_through_one_gateway_releases_a_statement_held_on_the_other_within_a_second()
    {
        var store = await AuditPostgresStore.CreateAsync(fixture.Gateway);
        await using var holding = store.Prepare();
        await using var deciding = store.Prepare();
        holding.Start();
        deciding.Start();
        await using var connection = await holding.OpenAsync(await holding.TokenAsync("agent-two"));
        string reviewer = await deciding.TokenAsync("dba-two", "roles=dba");
        var latencies = new List<TimeSpan>();
        for (int i = 0; i < 3; i++)
        {
            string marker = Guid.NewGuid().ToString("N")[..8];
            var running = Held(connection, marker).ExecuteScalarAsync();
            // Seen through the other instance's API: the request is in the shared store.
            string id = await ReviewSupport.PendingAsync(deciding.AdminUrl, reviewer, marker);
            await Task.Delay(200);
            Assert.False(running.IsCompleted);
            var clock = Stopwatch.StartNew();
            Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(deciding.AdminUrl, id, approve: true, reviewer));
            Assert.Equal(marker, await running.WaitAsync(TimeSpan.FromSeconds(10)));
            latencies.Add(clock.Elapsed);
        }

        output.WriteLine("decision on B to result on A: " + string.Join(", ", latencies.Select(l => $"{l.TotalMilliseconds:F0} ms")));
        Assert.All(latencies, l => Assert.True(l < TimeSpan.FromSeconds(1), $"released after {l.TotalMilliseconds:F0} ms"));

        // The holding instance heard the decision on its LISTEN connection to the store (the poll is only the fallback).
        Assert.True(await store.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE datname = '{store.Database}' AND query LIKE 'LISTEN %'") >= 1);
    }

    [Theory]
    [InlineData(Signals.Kill)]
    [InlineData(Signals.Terminate)]
    public async Task A_gateway_stopped_while_a_statement_is_held_keeps_the_review_decidable_after_restart(int signal)
    {
        await using var gateway = GatewayProcess.Prepare(fixture.Gateway);
        gateway.Start();
        string marker = Guid.NewGuid().ToString("N")[..8];
        await using var connection = await gateway.OpenAsync(await gateway.TokenAsync("agent-restart"));
        var running = Held(connection, marker).ExecuteScalarAsync();
        string reviewer = await gateway.TokenAsync("dba-restart", "roles=dba");
        string id = await ReviewSupport.PendingAsync(gateway.AdminUrl, reviewer, marker);

        await gateway.StopAsync(signal);
        // The client is not left waiting: its connection ends with an error it can report.
        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => running.WaitAsync(TimeSpan.FromSeconds(10)));
        output.WriteLine($"signal {signal}: {error.GetType().Name}: {error.Message}");

        gateway.Start();
        await using (await gateway.OpenAsync(await gateway.TokenAsync("agent-restart"))) { }
        var list = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["reviews", "list", "--status", "pending", "--config", gateway.ConfigPath, "--token", reviewer]);
        Assert.True(list.ExitCode == 0, list.Stderr);
        Assert.Contains(id, list.Stdout, StringComparison.Ordinal);
        var approve = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["reviews", "approve", id, "--reason", "after restart", "--config", gateway.ConfigPath, "--token", reviewer]);
        Assert.True(approve.ExitCode == 0, approve.Stderr);
        var show = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["reviews", "show", id, "--json", "--config", gateway.ConfigPath, "--token", reviewer]);
        Assert.Contains("\"approved\"", show.Stdout, StringComparison.Ordinal);

        // Nothing ran: the held statement died with its session, and a hold approval is not a later permission.
        Assert.Equal(0L, await fixture.Gateway.Postgres.ScalarAsync<long>($"SELECT count(*) FROM payments WHERE card_number = '{marker}'", "shop"));
    }
}
