using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// The state file taken away under a running gateway: a statement whose record is safe in the journal runs; once the
/// writer has seen the store fail, statements are refused with 58000, the session lives on, and it recovers; every
/// record, the refused ones with their 58000 outcome, reaches the store when it returns.
/// </summary>
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
        // cannot show the session living on): the file (with its WAL) is moved away; the next statement is journaled
        // and runs, and the writer finds the store gone within LazyFlush; two statements are then refused; the file
        // is moved back, two run.
        string script = $"""
            SELECT 'before' AS before;
            \! sleep 0.3
            \! for f in '{state}' '{state}-wal' '{state}-shm'; do mv "$f" "$f.away"; done
            SELECT 10 AS journaled;
            \! sleep 1
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
        Assert.True(refusals.Count == 2, psql.Stdout + psql.Stderr);
        Assert.DoesNotContain("state.db", string.Join('\n', refusals), StringComparison.Ordinal);
        Assert.DoesNotContain("connection to server", psql.Stderr, StringComparison.Ordinal);
        Assert.Equal(["before", "10", "2", "3"], psql.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var stopped = await gateway.StopAsync(Signals.Terminate);
        Assert.True(stopped.ExitCode == 0, stopped.Stderr);
        var verify = await AuditCli.RunAsync("audit", "verify", "--config", gateway.ConfigPath);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.DoesNotContain("note:", verify.Stdout, StringComparison.Ordinal);

        // Every statement is in one unbroken chain, each with what the client saw: the refused ones with 58000.
        var session = Assert.Single((await AuditCli.JsonAsync("sessions", "list", "--config", gateway.ConfigPath, "--identity", "fault-psql", "--json")).EnumerateArray());
        var detail = await AuditCli.JsonAsync("sessions", "show", session.GetProperty("session").GetString()!, "--config", gateway.ConfigPath, "--json");
        var seen = detail.GetProperty("statements").EnumerateArray().ToDictionary(
            s => s.GetProperty("statement").GetProperty("sql").GetString()!.Trim().TrimEnd(';'),
            s => s.GetProperty("outcomes").EnumerateArray().Select(o => o.GetProperty("outcome").TryGetProperty("sql_state", out var state) && state.ValueKind == System.Text.Json.JsonValueKind.String ? state.GetString() : "ok").Single());
        Assert.Equal("ok", seen["SELECT 10 AS journaled"]);
        Assert.Equal("58000", seen["SELECT 11"]);
        Assert.Equal("58000", seen["SELECT 12"]);
        Assert.Equal("ok", seen["SELECT 2 AS two"]);
        Assert.Equal("ok", seen["SELECT 3 AS three"]);
    }

    [Fact]
    public async Task A_journal_that_cannot_be_created_stops_start_up_with_one_line_and_journal_false_runs_without_it()
    {
        await using var gateway = GatewayProcess.Prepare(fixture);
        await File.WriteAllTextAsync(Path.Combine(gateway.Directory, Gatehouse.Audit.AuditJournal.DirectoryName), "not a directory");
        gateway.Start();
        var failed = await gateway.ExitAsync();
        Assert.NotEqual(0, failed.ExitCode);
        var line = Assert.Single(failed.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("journal", StringComparison.Ordinal));
        Assert.Contains("audit: cannot create the journal in", line, StringComparison.Ordinal);
        Assert.Contains("audit.journal: false", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", failed.Stderr, StringComparison.Ordinal);

        await using var unjournaled = GatewayProcess.Prepare(fixture, extra: "audit: { journal: false }");
        unjournaled.Start();
        await using (var connection = await unjournaled.OpenAsync(await unjournaled.TokenAsync("no-journal-agent")))
        {
            Assert.Equal(1, await ScalarAsync(connection, "SELECT 1"));
        }

        Assert.False(Directory.Exists(Path.Combine(unjournaled.Directory, Gatehouse.Audit.AuditJournal.DirectoryName)));
        var stopped = await unjournaled.StopAsync(Signals.Terminate);
        Assert.True(stopped.ExitCode == 0, stopped.Stderr);
        var session = Assert.Single((await AuditCli.JsonAsync("sessions", "list", "--config", unjournaled.ConfigPath, "--identity", "no-journal-agent", "--json")).EnumerateArray());
        Assert.True(session.GetProperty("statements").GetInt64() >= 1, session.ToString()); // Npgsql's own start-up query, and ours
    }

    private static async Task<int> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (int)(await command.ExecuteScalarAsync())!;
    }
}
