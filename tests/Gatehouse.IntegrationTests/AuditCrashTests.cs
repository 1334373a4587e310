using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gatehouse.Testing;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// kill -9 of the gateway in the middle of a write-heavy pgbench run: every transaction the server committed
/// (pgbench_history rows, which pgbench only writes after the previous statements were acknowledged) has its
/// INSERT in the trail, and the trail verifies with a note about the missing chain.end.
/// </summary>
public sealed partial class AuditCrashTests : IAsyncLifetime
{
    private TestGateway _bench = null!;

    // Its own PostgreSQL, without log_statement (pgbench writes thousands of statements a second).
    public async Task InitializeAsync() => _bench = await TestGateway.StartAsync(new TestGatewayOptions { Postgres = new PostgresServerOptions() });

    public Task DisposeAsync() => _bench.DisposeAsync().AsTask();

    [GeneratedRegex(@"^INSERT INTO pgbench_history \(tid, bid, aid, delta, mtime\) VALUES \((-?\d+), (-?\d+), (-?\d+), (-?\d+), CURRENT_TIMESTAMP\)")]
    private static partial Regex HistoryInsert();

    private Dictionary<string, string> Env(int port, string user, string password, string sslMode) => new()
    {
        ["PGHOST"] = "127.0.0.1", ["PGPORT"] = port.ToString(CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
        ["PGUSER"] = user, ["PGPASSWORD"] = password, ["PGSSLMODE"] = sslMode, ["PGCONNECT_TIMEOUT"] = "10",
    };

    [Fact]
    public async Task Every_transaction_the_server_committed_has_its_statements_in_the_trail_after_kill_9()
    {
        string pgbench = ProcessRunner.PostgresTool("pgbench", _bench.Postgres.BinDirectory);
        var init = await ProcessRunner.RunAsync(pgbench, ["-i", "-s", "1", "-q"], Env(_bench.Postgres.Port, _bench.Postgres.SuperUser, _bench.Postgres.SuperUserPassword, "disable"));
        Assert.True(init.ExitCode == 0, init.Stderr);
        await _bench.Postgres.ExecuteAsync(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history TO app_read, app_write", TestGateway.Target);

        await using var gateway = GatewayProcess.Prepare(_bench);
        gateway.Start();
        string token = await gateway.TokenAsync("pgbench-agent");
        await (await gateway.OpenAsync(token)).DisposeAsync(); // the process is up

        // -T is long enough never to end by itself: the kill comes once the server has committed a hundred transactions.
        using var run = ProcessRunner.Start(pgbench, ["-n", "-c", "8", "-j", "2", "-T", "120"], Env(gateway.Port, "agent", token, "require"));
        var output = ProcessRunner.CollectAsync(run, TimeSpan.FromSeconds(180));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (await _bench.Postgres.ScalarAsync<long>("SELECT count(*) FROM pgbench_history", TestGateway.Target) < 100)
        {
            Assert.False(run.HasExited, "pgbench ended before the gateway was killed");
            Assert.True(DateTime.UtcNow < deadline, "pgbench did not commit 100 transactions in 90 s");
            await Task.Delay(100);
        }

        await gateway.StopAsync(Signals.Kill);
        var bench = await output;
        Assert.NotEqual(0, bench.ExitCode); // its clients lost the gateway mid-run

        var committed = new List<(int Tid, int Bid, int Aid, int Delta)>();
        await using (var direct = new NpgsqlConnection(_bench.Postgres.ConnectionString(TestGateway.Target)))
        {
            await direct.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT tid, bid, aid, delta FROM pgbench_history", direct);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                committed.Add((reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3)));
            }
        }

        Assert.True(committed.Count >= 100, $"only {committed.Count} transactions committed before the kill: {bench.Stdout}{bench.Stderr}");

        var export = await AuditCli.RunAsync("audit", "export", "--config", gateway.ConfigPath);
        Assert.True(export.ExitCode == 0, export.Stderr);
        var recorded = new Dictionary<(int, int, int, int), int>();
        foreach (var line in export.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var record = JsonDocument.Parse(line);
            if (record.RootElement.GetProperty("kind").GetString() == "statement"
                && HistoryInsert().Match(record.RootElement.GetProperty("body").GetProperty("sql").GetString()!) is { Success: true } m)
            {
                var key = (Int(m, 1), Int(m, 2), Int(m, 3), Int(m, 4));
                recorded[key] = recorded.GetValueOrDefault(key) + 1;
            }
        }

        var missing = committed.GroupBy(r => r).Where(g => recorded.GetValueOrDefault(g.Key) < g.Count()).Select(g => g.Key).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {committed.Count} committed transactions are not in the trail, e.g. {missing.FirstOrDefault()}");

        var verify = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.Contains("has no chain.end record", verify.Stdout, StringComparison.Ordinal);

        var sessions = (await AuditCli.JsonAsync("sessions", "list", "--config", gateway.ConfigPath, "--identity", "pgbench-agent", "--json")).EnumerateArray().ToList();
        // The readiness probe, pgbench's eight clients, and the connection pgbench opens first to read the scale.
        Assert.True(sessions.Count >= 9, $"{sessions.Count} sessions of pgbench-agent");
        Assert.True(sessions.Sum(s => s.GetProperty("statements").GetInt64()) >= committed.Count * 7L);
    }

    private static int Int(Match match, int group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);
}
