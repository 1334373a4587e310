using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>The state file deleted under a running gateway: statements are refused with 58000, the session lives on, and it recovers.</summary>
[Collection(GatewayCollection.Name)]
public sealed class AuditStoreFaultTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Statements_get_58000_while_the_store_is_gone_and_run_again_when_it_returns()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        gateway.Start();
        string state = Path.Combine(gateway.Directory, "state.db");
        await using (var connection = await gateway.OpenAsync(await gateway.TokenAsync("fault-agent")))
        {
            Assert.Equal(1, await ScalarAsync(connection, "SELECT 1"));
        }

        // One psql session (Npgsql drops its connection on any class-58 error, even from PostgreSQL itself, so it
        // cannot show the session living on): the file (with its WAL) is moved away, three statements are refused, it is moved back, two run.
        string script = $"""
            SELECT 'before' AS before;
            \! for f in '{state}' '{state}-wal' '{state}-shm'; do mv "$f" "$f.away"; done
            SELECT 10;
            SELECT 11;
            SELECT 12;
            \! for f in '{state}' '{state}-wal' '{state}-shm'; do mv "$f.away" "$f"; done
            SELECT 2 AS two;
            SELECT 3 AS three;
            """;
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1", ["PGPORT"] = gateway.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PGDATABASE"] = TestGateway.Target, ["PGUSER"] = "agent", ["PGSSLMODE"] = "require",
            ["PGPASSWORD"] = await gateway.TokenAsync("fault-psql"),
        };
        var psql = await ProcessRunner.RunAsync(ProcessRunner.PostgresTool("psql", fixture.Postgres.BinDirectory), ["-X", "-At", "-f", "-"], env, TimeSpan.FromSeconds(60), script);
        var refusals = psql.Stderr.Split('\n').Where(l => l.Contains("gatehouse: audit unavailable", StringComparison.Ordinal)).ToList();
        Assert.True(refusals.Count == 3, psql.Stdout + psql.Stderr);
        Assert.DoesNotContain("state.db", string.Join('\n', refusals), StringComparison.Ordinal);
        Assert.DoesNotContain("connection to server", psql.Stderr, StringComparison.Ordinal);
        Assert.Equal(["before", "2", "3"], psql.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var stopped = await gateway.StopAsync(Signals.Terminate);
        Assert.True(stopped.ExitCode == 0, stopped.Stderr);
        var verify = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.DoesNotContain("note:", verify.Stdout, StringComparison.Ordinal);

        // The refused statements were never stored; those after the store returned were, in one unbroken chain.
        var session = Assert.Single((await AuditCli.JsonAsync("sessions", "list", "--config", gateway.ConfigPath, "--identity", "fault-psql", "--json")).EnumerateArray());
        var detail = await AuditCli.JsonAsync("sessions", "show", session.GetProperty("session").GetString()!, "--config", gateway.ConfigPath, "--json");
        var sql = detail.GetProperty("statements").EnumerateArray().Select(s => s.GetProperty("statement").GetProperty("sql").GetString()).ToList();
        Assert.Contains(sql, s => s!.Contains("SELECT 2 AS two", StringComparison.Ordinal));
        Assert.Contains(sql, s => s!.Contains("SELECT 3 AS three", StringComparison.Ordinal));
        Assert.DoesNotContain(sql, s => s!.Contains("SELECT 10", StringComparison.Ordinal));
    }

    private static async Task<int> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (int)(await command.ExecuteScalarAsync())!;
    }
}
