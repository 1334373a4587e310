using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gatehouse.Testing;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// kill -9 of a gateway process in the middle of a write-heavy pgbench run (TPC-B default script, 8 clients), then the
/// trail compared with the server's own pgbench_history rows. Shared by the SQLite and PostgreSQL store tests.
/// </summary>
internal static partial class PgbenchCrash
{
    public sealed record Figures(int Committed, long Records, long Sessions, long Statements);

    [GeneratedRegex(@"^INSERT INTO pgbench_history \(tid, bid, aid, delta, mtime\) VALUES \((-?\d+), (-?\d+), (-?\d+), (-?\d+), CURRENT_TIMESTAMP\)")]
    private static partial Regex HistoryInsert();

    private static Dictionary<string, string> Env(int port, string user, string password, string sslMode) => new()
    {
        ["PGHOST"] = "127.0.0.1", ["PGPORT"] = port.ToString(CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
        ["PGUSER"] = user, ["PGPASSWORD"] = password, ["PGSSLMODE"] = sslMode, ["PGCONNECT_TIMEOUT"] = "10",
    };

    /// <summary>Runs pgbench through <paramref name="gateway"/> (prepared, not started) on <paramref name="bench"/>'s server, kills it, and checks the trail.</summary>
    public static async Task<Figures> RunAsync(TestGateway bench, GatewayProcess gateway)
    {
        string pgbench = ProcessRunner.PostgresTool("pgbench", bench.Postgres.BinDirectory);
        var init = await ProcessRunner.RunAsync(pgbench, ["-i", "-s", "1", "-q"], Env(bench.Postgres.Port, bench.Postgres.SuperUser, bench.Postgres.SuperUserPassword, "disable"));
        Assert.True(init.ExitCode == 0, init.Stderr);
        await bench.Postgres.ExecuteAsync(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history TO app_read, app_write", TestGateway.Target);

        gateway.Start();
        string token = await gateway.TokenAsync("pgbench-agent");
        await (await gateway.OpenAsync(token)).DisposeAsync(); // the process is up

        // -T is long enough never to end by itself: the kill comes once the server has committed a hundred transactions.
        using var run = ProcessRunner.Start(pgbench, ["-n", "-c", "8", "-j", "2", "-T", "120"], Env(gateway.Port, "agent", token, "require"));
        var output = ProcessRunner.CollectAsync(run, TimeSpan.FromSeconds(180));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (await bench.Postgres.ScalarAsync<long>("SELECT count(*) FROM pgbench_history", TestGateway.Target) < 100)
        {
            Assert.False(run.HasExited, "pgbench ended before the gateway was killed");
            Assert.True(DateTime.UtcNow < deadline, "pgbench did not commit 100 transactions in 90 s");
            await Task.Delay(100);
        }

        await gateway.StopAsync(Signals.Kill);
        var result = await output;
        Assert.NotEqual(0, result.ExitCode); // its clients lost the gateway mid-run

        var committed = new List<(int Tid, int Bid, int Aid, int Delta)>();
        await using (var direct = new NpgsqlConnection(bench.Postgres.ConnectionString(TestGateway.Target)))
        {
            await direct.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT tid, bid, aid, delta FROM pgbench_history", direct);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                committed.Add((reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3)));
            }
        }

        Assert.True(committed.Count >= 100, $"only {committed.Count} transactions committed before the kill: {result.Stdout}{result.Stderr}");

        // The killed process left its journal: the first verb that reads the trail stores what it holds.
        var export = await AuditCli.RunAsync("audit", "export", "--config", gateway.ConfigPath);
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.Contains("recovered the journal of chain", export.Stderr, StringComparison.Ordinal);
        var recorded = new Dictionary<(int, int, int, int), int>();
        long records = 0;
        foreach (var line in export.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            records++;
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
        long statements = sessions.Sum(s => s.GetProperty("statements").GetInt64());
        Assert.True(statements >= committed.Count * 7L, $"{statements} statements for {committed.Count} transactions");
        return new Figures(committed.Count, records, sessions.Count, statements);
    }

    private static int Int(Match match, int group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);
}
