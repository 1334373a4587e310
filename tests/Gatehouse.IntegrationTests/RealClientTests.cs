using System.Runtime.InteropServices;

namespace Gatehouse.IntegrationTests;

/// <summary>psql, pgbench and node-postgres through the gateway, as agents run them.</summary>
[Collection(GatewayCollection.Name)]
public sealed class RealClientTests(GatewayFixture fixture)
{
    private Dictionary<string, string> Env(string? token = null) => new()
    {
        ["PGHOST"] = "127.0.0.1",
        ["PGPORT"] = fixture.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["PGDATABASE"] = TestGateway.Target,
        ["PGUSER"] = "agent",
        ["PGPASSWORD"] = token ?? fixture.Token(),
        ["PGSSLMODE"] = "require",
        ["PGCONNECT_TIMEOUT"] = "10",
    };

    private string Psql => ProcessRunner.PostgresTool("psql", fixture.Postgres.BinDirectory);

    private Task<ProcessRunner.Result> PsqlAsync(params string[] arguments) =>
        ProcessRunner.RunAsync(Psql, ["-X", "-v", "ON_ERROR_STOP=1", .. arguments], Env());

    [Fact]
    public async Task Psql_describes_tables_and_runs_queries()
    {
        var describe = await PsqlAsync("-c", @"\d customers");
        Assert.True(describe.ExitCode == 0, describe.Stderr);
        Assert.Contains("email", describe.Stdout, StringComparison.Ordinal);

        var query = await PsqlAsync("-At", "-c", "SELECT name FROM customers WHERE id = 3");
        Assert.Equal("Customer 3", query.Stdout.Trim());
    }

    [Fact]
    public async Task Psql_copies_in_and_out_with_backslash_copy()
    {
        string file = Path.Combine(fixture.Directory, $"orders-{Guid.NewGuid():N}.csv");
        var copyOut = await PsqlAsync("-c", $@"\copy (SELECT id, total FROM orders WHERE id <= 10 ORDER BY id) TO '{file}' CSV");
        Assert.True(copyOut.ExitCode == 0, copyOut.Stderr);
        Assert.Equal(10, File.ReadAllLines(file).Length);

        string input = Path.Combine(fixture.Directory, $"blobs-{Guid.NewGuid():N}.csv");
        int first = Random.Shared.Next(10_000, 1_000_000);
        await File.WriteAllLinesAsync(input, [$"{first},\\x0102", $"{first + 1},\\x0304"]);
        var copyIn = await PsqlAsync("-c", $@"\copy blobs (id, data) FROM '{input}' CSV");
        Assert.True(copyIn.ExitCode == 0, copyIn.Stderr);
        Assert.Equal(2L, await fixture.Postgres.ScalarAsync<long>($"SELECT count(*) FROM blobs WHERE id IN ({first}, {first + 1})", "shop"));
    }

    [Fact]
    public async Task Psql_cancel_stops_a_long_query()
    {
        using var process = ProcessRunner.Start(Psql, ["-X", "-c", "SELECT pg_sleep(60)"], Env());
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(0, Signals.Send(process.Id, Signals.Interrupt));
        var result = await ProcessRunner.CollectAsync(process, TimeSpan.FromSeconds(20));
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("canceling statement due to user request", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Psql_reports_a_denied_statement_and_later_statements_still_run()
    {
        var result = await ProcessRunner.RunAsync(Psql, ["-X", "-At"], Env(), stdin: "DROP TABLE customers;\nSELECT 'after';\n");
        Assert.Contains("gatehouse: denied by rule no-ddl", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("CONTEXT", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("after", result.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("extended")]
    [InlineData("prepared")]
    public async Task Pgbench_runs_a_read_workload_through_the_gateway(string mode)
    {
        string script = Path.Combine(fixture.Directory, "read.sql");
        await File.WriteAllTextAsync(script, "\\set id random(1, 100)\nSELECT name, email FROM customers WHERE id = :id;\n");
        var result = await ProcessRunner.RunAsync(
            ProcessRunner.PostgresTool("pgbench", fixture.Postgres.BinDirectory),
            ["-n", "-f", script, "-M", mode, "-c", "2", "-t", "200"], Env());
        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        Assert.Contains("number of failed transactions: 0", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("number of transactions actually processed: 400/400", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_postgres_queries_and_gets_denials_as_errors()
    {
        string root = ProcessRunner.RepositoryRoot();
        var env = Env();
        env["NODE_TLS_REJECT_UNAUTHORIZED"] = "0";
        var result = await ProcessRunner.RunAsync("node", [Path.Combine(root, "tests", "node", "pg-client.mjs")], env);
        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        Assert.Contains("rows: 100", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("param: Customer 5", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("denied: 42501 gatehouse: denied by rule no-ddl", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("param denied: 42501 gatehouse: denied by rule payments-readonly", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("after denial: 1", result.Stdout, StringComparison.Ordinal);
    }
}
