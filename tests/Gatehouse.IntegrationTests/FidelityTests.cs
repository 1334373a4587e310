using Gatehouse.Credentials;
using Gatehouse.Pipeline;
using Npgsql;
using Xunit.Abstractions;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// Correct clients get what PostgreSQL would give them (issue 16 items 6 and 7): valid SQL that Gatehouse used to
/// call "not understood" runs, invalid SQL gets the server's own syntax error with its position, and Npgsql's
/// connection pool (which resets a returned connection with SET SESSION AUTHORIZATION DEFAULT; RESET ALL; …) works.
/// </summary>
public sealed class FidelityTests(FidelityTests.Gateway fixture, ITestOutputHelper output) : IClassFixture<FidelityTests.Gateway>
{
    /// <summary>DDL allowed, so CREATE TABLE … AS EXECUTE and CREATE FUNCTION run; dcl and admin still denied.</summary>
    public sealed class Gateway : IAsyncLifetime
    {
        private const string Policy = """
            identities:
              coding-agents: { claims: { groups: ai-agents } }
            grants:
              - to: coding-agents
                targets: [shop]
                db_roles: [app_read, app_write]
                rules:
                  - { id: no-dcl, when: { class: [dcl, admin] }, then: deny }
                  - { id: no-files, when: { functions: ["pg_read_file", "lo_*"] }, then: deny }
            """;

        public TestGateway Server { get; private set; } = null!;

        public async Task InitializeAsync() => Server = await TestGateway.StartAsync(new TestGatewayOptions
        {
            Policy = Policy,
            ExtraSchema = "GRANT CREATE ON SCHEMA public TO app_write; CREATE TABLE inbox (a int, b text); GRANT ALL ON inbox TO app_write, app_read;",
        });

        public async Task DisposeAsync() => await Server.DisposeAsync();
    }

    private TestGateway Server => fixture.Server;

    [Fact]
    public async Task Npgsql_pool_with_auto_prepare_reuses_connections()
    {
        var builder = new NpgsqlConnectionStringBuilder(Server.ConnectionString())
        {
            Pooling = true,
            MaxPoolSize = 1,
            MaxAutoPrepare = 10,
            AutoPrepareMinUsages = 1,
        };
        await using var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        int? backend = null;
        for (var round = 0; round < 3; round++)
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var pid = new NpgsqlCommand("SELECT pg_backend_pid()", connection);
            var current = (int)(await pid.ExecuteScalarAsync())!;
            backend ??= current;
            Assert.Equal(backend, current);   // the same upstream session: the pool's reset ran through the gateway
            for (var i = 1; i <= 3; i++)
            {
                await using var command = new NpgsqlCommand("SELECT name FROM customers WHERE id = $1", connection);
                command.Parameters.Add(new NpgsqlParameter { Value = i + round });
                Assert.Equal($"Customer {i + round}", await command.ExecuteScalarAsync());
                await using var count = new NpgsqlCommand("SELECT count(*) FROM orders WHERE customer_id = $1", connection);
                count.Parameters.Add(new NpgsqlParameter { Value = i });
                Assert.Equal(5L, await count.ExecuteScalarAsync());
            }
        }

        // The reset really went through the gateway to the server (log_statement = all), and ran.
        var log = await File.ReadAllTextAsync(Server.Postgres.LogFile);
        Assert.Contains("SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Valid_statements_that_were_not_understood_run()
    {
        await using var connection = await Server.OpenAsync();
        await using (var import = await connection.BeginTextImportAsync("COPY inbox (a, b) FROM STDOUT"))
        {
            await import.WriteAsync("1\tone\n2\ttwo\n");
        }

        Assert.Equal(2L, await Scalar(connection, "SELECT count(*) FROM inbox WHERE a IN (1, 2)"));
        await Scalar(connection, "PREPARE few AS SELECT id, name FROM customers WHERE id <= 4");
        await Scalar(connection, "CREATE TEMP TABLE few_customers AS EXECUTE few WITH DATA");
        await Scalar(connection, "CREATE TEMP TABLE no_customers AS EXECUTE few WITH NO DATA");
        Assert.Equal(4L, await Scalar(connection, "SELECT count(*) FROM few_customers"));
        Assert.Equal(0L, await Scalar(connection, "SELECT count(*) FROM no_customers"));
        Assert.Equal(3L, await Scalar(connection,
            "SELECT i8 FROM COALESCE(1, 2) c(c), COLLATION FOR ('x') col(col), CURRENT_DATE d(d), LOCALTIMESTAMP(3) t(t), CAST(1 + 2 AS int8) i8(i8)"));
        Assert.Equal("shop", await Scalar(connection, "SELECT c FROM current_catalog c, current_user u, session_user s"));
        var name = "f_" + Guid.NewGuid().ToString("N");
        await Scalar(connection, $"CREATE FUNCTION {name}() RETURNS int LANGUAGE 'plpgsql' AS $$ BEGIN RETURN 7; END $$");
        Assert.Equal(7, await Scalar(connection, $"SELECT {name}()"));
    }

    [Fact]
    public async Task Functions_inside_standard_forms_still_meet_their_rules()
    {
        await using var connection = await Server.OpenAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() => Scalar(connection, "SELECT * FROM CAST(pg_read_file('postgresql.conf') AS text) x"));
        Assert.Equal("42501", error.SqlState);
        Assert.Contains("denied by rule", error.MessageText, StringComparison.Ordinal);
        error = await Assert.ThrowsAsync<PostgresException>(() => Scalar(connection, "SELECT * FROM LOCALTIMESTAMP t, COALESCE(pg_cancel_backend(0), false) c"));
        Assert.Contains("denied by rule no-dcl", error.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_sql_gets_the_servers_syntax_error_with_its_position()
    {
        await using var connection = await Server.OpenAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() => Scalar(connection, "SELEC 1"));
        Assert.Equal("42601", error.SqlState);
        Assert.Equal("syntax error at or near \"SELEC\"", error.MessageText);
        Assert.Equal(1, error.Position);
        error = await Assert.ThrowsAsync<PostgresException>(() => Scalar(connection, "SELECT (1"));
        Assert.Equal(("42601", "syntax error at end of input", 10), (error.SqlState, error.MessageText, error.Position));
        error = await Assert.ThrowsAsync<PostgresException>(() => Scalar(connection, "SELECT 1 FROM customers WHERE id = 'x"));
        Assert.Equal(("42601", "unterminated quoted string at or near \"'x\"", 36), (error.SqlState, error.MessageText, error.Position));
        // Valid syntax that Gatehouse does not understand keeps its own refusal.
        error = await Assert.ThrowsAsync<PostgresException>(() => Scalar(connection, "EXECUTE never_prepared"));
        Assert.Equal("42501", error.SqlState);
        Assert.StartsWith("gatehouse: statement not understood", error.MessageText, StringComparison.Ordinal);
        Assert.Equal(0, error.Position);
        Assert.Equal(1, await Scalar(connection, "SELECT 1"));
    }

    [Fact]
    public async Task Psql_shows_the_syntax_error_where_it_is()
    {
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1",
            ["PGPORT"] = Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PGDATABASE"] = TestGateway.Target,
            ["PGUSER"] = "agent",
            ["PGPASSWORD"] = Server.Token(),
            ["PGSSLMODE"] = "require",
        };
        var psql = ProcessRunner.PostgresTool("psql", Server.Postgres.BinDirectory);
        var bad = await ProcessRunner.RunAsync(psql, ["-X", "-v", "VERBOSITY=verbose", "-c", "SELECT 1; SELEC 2"], env);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("ERROR:  42601: syntax error at or near \"SELEC\"", bad.Stderr, StringComparison.Ordinal);
        Assert.Contains("LINE 1: SELECT 1; SELEC 2\n                  ^", bad.Stderr, StringComparison.Ordinal);
        var valid = await ProcessRunner.RunAsync(psql, ["-X", "-c", "EXECUTE never_prepared"], env);
        Assert.NotEqual(0, valid.ExitCode);
        Assert.Contains("ERROR:  gatehouse: statement not understood", valid.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("LINE 1", valid.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_check_that_cannot_reach_the_server_keeps_not_understood()
    {
        var unreachable = new CredentialTarget
        {
            Name = "gone",
            Host = "127.0.0.1",
            Port = TestGateway.FreePort(),
            Database = "shop",
            ProvisionerUser = "postgres",
            ProvisionerPassword = () => "x",
        };
        await using var check = new UpstreamSyntaxCheck(unreachable);
        Assert.Null(await check.CheckAsync("SELEC 1", CancellationToken.None));
    }

    /// <summary>Issue 16 item 1, through a real gateway process: a 20 MB statement of one-character tokens is analyzed and
    /// refused; the process's peak resident memory (VmHWM) grows by a bounded multiple of the text (measured 15-17x:
    /// the message, its UTF-16 string and 12-byte tokens).</summary>
    [Fact]
    public async Task A_many_token_statement_costs_the_gateway_a_bounded_amount_of_memory()
    {
        await using var gateway = GatewayProcess.Prepare(Server);
        File.AppendAllText(gateway.ConfigPath, "\nlimits:\n  max_message_bytes: 67108864\n");
        gateway.Start();
        await using var connection = await gateway.OpenAsync(await gateway.TokenAsync("agent-rss"));
        Assert.Equal(1, await Scalar(connection, "SELECT 1"));
        var baseline = Kilobytes(gateway.ProcessId, "VmHWM:");
        // One statement (Npgsql sends each statement of a text as its own Parse): refused by its function.
        var sql = new System.Text.StringBuilder(20_000_064).Append("SELECT pg_read_file('postgresql.conf')");
        while (sql.Length < 20_000_000)
            sql.Append(",1");
        await using var big = new NpgsqlCommand(sql.ToString(), connection) { CommandTimeout = 600 };   // Debug builds on a busy machine
        var error = await Assert.ThrowsAsync<PostgresException>(() => big.ExecuteScalarAsync());
        Assert.StartsWith("gatehouse: denied by rule no-dcl", error.MessageText, StringComparison.Ordinal);
        Assert.Equal(1, await Scalar(connection, "SELECT 1"));   // the session goes on
        var peak = Kilobytes(gateway.ProcessId, "VmHWM:") - baseline;
        var text = sql.Length / 1024;   // bytes on the wire, in KiB (ASCII)
        output.WriteLine($"gateway peak RSS grew {peak:N0} KiB for a {text:N0} KiB statement ({(double)peak / text:F1}x)");
        Assert.True(peak < 25L * text, $"peak RSS grew {peak:N0} KiB for a {text:N0} KiB statement");
    }

    private static long Kilobytes(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<object?> Scalar(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
