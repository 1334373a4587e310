using System.Diagnostics;
using System.Text;
using Npgsql;
using Xunit.Abstractions;

namespace Gatehouse.IntegrationTests;

/// <summary>A gateway whose grants carry limits (SPEC §3), one grant per limit so the tests do not share a count.</summary>
public sealed class LimitsFixture : TestGateway, IAsyncLifetime
{
    public const string Policy = """
        identities:
          coding-agents: { claims: { groups: ai-agents } }
          idle-agents: { claims: { groups: idle } }
          tx-agents: { claims: { groups: tx } }
          few-agents: { claims: { groups: few } }
        grants:
          - to: coding-agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
            limits: { statement_timeout: 2s }
          - to: idle-agents
            targets: [shop]
            db_roles: [app_read]
            limits: { idle_in_transaction_timeout: 2s }
          - to: tx-agents
            targets: [shop]
            db_roles: [app_read]
            limits: { transaction_timeout: 3s }
          - to: few-agents
            targets: [shop]
            db_roles: [app_read]
            limits: { max_connections: 2 }
        """;

    public Task InitializeAsync() => InitializeAsync(new TestGatewayOptions { Policy = Policy });

    public Task<NpgsqlConnection> OpenAsAsync(string group, string subject = "agent-1") =>
        OpenAsync(Token(subject, ("groups", group)));

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}

/// <summary>Limits an agent cannot lift, and the message-size limit, against a real PostgreSQL through the gateway.</summary>
public sealed class LimitsTests(LimitsFixture fixture, ITestOutputHelper output) : IClassFixture<LimitsFixture>
{
    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 60 };
        return await command.ExecuteScalarAsync();
    }

    private static async Task<(PostgresException Error, TimeSpan After)> FailsAsync(NpgsqlConnection connection, string sql)
    {
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(connection, sql));
        return (error, clock.Elapsed);
    }

    [Fact]
    public async Task A_statement_past_the_grants_statement_timeout_is_cancelled_and_the_session_goes_on()
    {
        await using var connection = await fixture.OpenAsync();
        var (error, after) = await FailsAsync(connection, "select pg_sleep(1e9)");
        Assert.Equal("57014", error.SqlState);
        Assert.Equal("gatehouse: canceling statement due to limits.statement_timeout (2s) of the grant", error.MessageText);
        Assert.InRange(after, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(10));
        Assert.Equal(42, await ScalarAsync(connection, "select 42"));
    }

    [Fact]
    public async Task The_agent_setting_statement_timeout_to_zero_does_not_lift_the_limit()
    {
        await using var connection = await fixture.OpenAsync();
        await ScalarAsync(connection, "SET statement_timeout = 0");
        Assert.Equal("0", await ScalarAsync(connection, "SHOW statement_timeout"));
        var (error, after) = await FailsAsync(connection, "select pg_sleep(1e9)");
        Assert.Equal("57014", error.SqlState);
        Assert.StartsWith("gatehouse: ", error.MessageText, StringComparison.Ordinal);
        Assert.InRange(after, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task An_endless_generate_series_is_cancelled_inside_a_transaction_which_then_rolls_back_as_usual()
    {
        await using var connection = await fixture.OpenAsync();
        await ScalarAsync(connection, "BEGIN");
        var (error, _) = await FailsAsync(connection, "select count(*) from generate_series(1, 1e15::bigint)");
        Assert.Equal("57014", error.SqlState);
        Assert.Contains("limits.statement_timeout", error.MessageText, StringComparison.Ordinal);
        await ScalarAsync(connection, "ROLLBACK");
        Assert.Equal(500L, await ScalarAsync(connection, "select count(*) from orders"));
    }

    [Fact]
    public async Task Psql_simple_query_is_cancelled_too()
    {
        var result = await PsqlAsync("select pg_sleep(1e9);\nselect 'after';\n");
        Assert.Contains("ERROR:  gatehouse: canceling statement due to limits.statement_timeout (2s) of the grant", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("after", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Statements_within_the_limit_are_not_touched()
    {
        await using var connection = await fixture.OpenAsync();
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(string.Empty, await ScalarAsync(connection, "select pg_sleep(0.5)::text"));
        }
    }

    [Fact]
    public async Task A_session_idle_in_a_transaction_past_the_limit_is_ended_with_25P03()
    {
        await using var connection = await fixture.OpenAsAsync("idle");
        await ScalarAsync(connection, "BEGIN");
        await ScalarAsync(connection, "select count(*) from customers");
        string role = (string)(await ScalarAsync(connection, "select current_user"))!;
        await Task.Delay(TimeSpan.FromSeconds(4));
        var error = await Assert.ThrowsAsync<PostgresException>(() => ScalarAsync(connection, "select 1"));
        Assert.Equal("25P03", error.SqlState);
        Assert.Equal("gatehouse: terminating connection due to idle-in-transaction timeout (limits.idle_in_transaction_timeout 2s of the grant)", error.MessageText);

        // The gateway closes the upstream connection as it ends the session; the backend leaves a moment later.
        long left = -1;
        for (int attempt = 0; attempt < 100 && left != 0; attempt++)
        {
            left = await fixture.Postgres.ScalarAsync<long>($"select count(*) from pg_stat_activity where usename = '{role}'", "shop");
            await Task.Delay(left == 0 ? 0 : 100);
        }

        Assert.Equal(0L, left);
    }

    [Fact]
    public async Task A_session_only_idle_outside_a_transaction_is_not_ended()
    {
        await using var connection = await fixture.OpenAsAsync("idle");
        await ScalarAsync(connection, "select 1");
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(2, await ScalarAsync(connection, "select 2"));
    }

    [Fact]
    public async Task A_transaction_open_past_the_limit_ends_the_session_with_25P04_though_it_is_never_idle_long()
    {
        await using var connection = await fixture.OpenAsAsync("tx");
        await ScalarAsync(connection, "BEGIN");
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                await ScalarAsync(connection, "select pg_sleep(0.2)");
            }
        });
        Assert.Equal("25P04", error.SqlState);
        Assert.StartsWith("gatehouse: terminating connection due to transaction timeout (limits.transaction_timeout 3s", error.MessageText, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2.9), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Logins_past_the_grants_max_connections_are_refused_with_53300_until_one_leaves()
    {
        var first = await fixture.OpenAsAsync("few", "agent-few");
        await using var second = await fixture.OpenAsAsync("few", "agent-few");
        var error = await Assert.ThrowsAsync<PostgresException>(() => fixture.OpenAsAsync("few", "agent-few"));
        Assert.Equal("53300", error.SqlState);
        Assert.Contains("limits.max_connections", error.MessageText, StringComparison.Ordinal);

        // Another subject under the same grant counts on its own.
        await using (var other = await fixture.OpenAsAsync("few", "agent-other"))
        {
            Assert.Equal(1, await ScalarAsync(other, "select 1"));
        }

        await first.DisposeAsync();
        await using var third = await RetryOpenAsync("few", "agent-few");
        Assert.Equal(1, await ScalarAsync(third, "select 1"));
    }

    // The gateway releases a session's count when it sees the client leave, an instant after Dispose returns.
    private async Task<NpgsqlConnection> RetryOpenAsync(string group, string subject)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await fixture.OpenAsAsync(group, subject);
            }
            catch (PostgresException ex) when (ex.SqlState == "53300" && attempt < 50)
            {
                await Task.Delay(100);
            }
        }
    }

    [Fact]
    public async Task A_query_above_max_message_bytes_is_refused_unread_and_the_gateways_memory_stays_flat()
    {
        await using var process = GatewayProcess.Prepare(fixture);
        process.Start();
        string token = await process.TokenAsync("agent-rss");
        await using var connection = await process.OpenAsync(token);
        await using var bystander = await process.OpenAsync(token);
        Assert.Equal(1, await ScalarAsync(connection, "select 1"));
        long before = ResidentBytes(process.ProcessId);

        // ~20 MB of small tokens: what made the analyzer allocate per token.
        var sql = new StringBuilder("SELECT 1", 21 * 1024 * 1024);
        while (sql.Length < 20_000_000)
        {
            sql.Append(",1");
        }

        // Npgsql sends each statement in its own Parse: the first is the large one.
        int payloadBytes = 1 + sql.Length + 1 + 2; // Parse: unnamed statement, text, terminator, parameter count
        sql.Append("; CREATE TABLE x(a int)");
        var big = Task.Run(async () =>
        {
            await using var command = new NpgsqlCommand(sql.ToString(), connection) { CommandTimeout = 120 };
            return await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        });

        // Another session works while the large message streams through.
        for (int i = 0; i < 20 && !big.IsCompleted; i++)
        {
            Assert.Equal(i, await ScalarAsync(bystander, $"select {i}"));
        }

        var error = await big;
        Assert.Equal("54000", error.SqlState);
        Assert.Equal($"gatehouse: message of {payloadBytes} bytes exceeds limits.max_message_bytes (16777216)", error.MessageText);
        long after = ResidentBytes(process.ProcessId);
        output.WriteLine($"gateway VmRSS before {before / 1048576.0:F1} MiB, after the refused {sql.Length / 1e6:F0} MB statement {after / 1048576.0:F1} MiB");

        // The message was never gathered: growth is buffers, not the 20 MB text (nor a per-token multiple of it).
        const long Bound = 32L * 1024 * 1024;
        Assert.True(after - before < Bound, $"gateway RSS went from {before / 1048576} MiB to {after / 1048576} MiB (bound: +{Bound / 1048576} MiB)");
        Assert.Equal(7, await ScalarAsync(connection, "select 7"));
        Assert.False(await fixture.Postgres.ScalarAsync<bool>("select exists (select from pg_class where relname = 'x')", "shop"));
    }

    private static long ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException("no VmRSS line");
    }

    [Fact]
    public async Task A_thousand_refused_prepares_leave_the_session_state_as_it_was()
    {
        // psql sends each -c string as one simple Query, all-or-nothing: the denied DROP refuses the whole string.
        var batch = new StringBuilder();
        for (int i = 0; i < 1000; i++)
        {
            batch.Append(System.Globalization.CultureInfo.InvariantCulture, $"PREPARE refused_{i} AS SELECT {i}; ");
        }

        batch.Append("DROP TABLE orders");
        string[] rounds = [.. Enumerable.Repeat(batch.ToString(), 4)];
        var result = await PsqlAsync(null, [.. rounds.SelectMany(r => new[] { "-c", r }),
            "-c", "EXECUTE refused_5", "-c", "select 'prepared: ' || count(*) from pg_prepared_statements"]);
        var errors = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, errors.Count(e => e.Contains("gatehouse: denied by rule no-ddl", StringComparison.Ordinal)));

        // Neither the server nor Gatehouse knows the names: EXECUTE of one is not understood, as before the batches.
        Assert.Contains(errors, e => e.StartsWith("ERROR:  gatehouse: statement not understood", StringComparison.Ordinal));
        Assert.Equal(5, errors.Count(e => e.StartsWith("ERROR:", StringComparison.Ordinal)));
        Assert.Contains("prepared: 0", result.Stdout, StringComparison.Ordinal);
    }

    private Task<ProcessRunner.Result> PsqlAsync(string? stdin, params string[] arguments) => ProcessRunner.RunAsync(
        ProcessRunner.PostgresTool("psql", fixture.Postgres.BinDirectory), ["-X", "-At", .. arguments], PsqlEnvironment(), stdin: stdin);

    private Dictionary<string, string> PsqlEnvironment() => new()
    {
        ["PGHOST"] = "127.0.0.1",
        ["PGPORT"] = fixture.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["PGDATABASE"] = TestGateway.Target,
        ["PGUSER"] = "agent",
        ["PGPASSWORD"] = fixture.Token(),
        ["PGSSLMODE"] = "require",
    };

    [Fact]
    public async Task Prepared_statements_past_the_cap_are_refused_with_54000_until_some_are_deallocated()
    {
        await using var connection = await fixture.OpenAsync();
        var batch = new StringBuilder();
        for (int i = 0; i < 10_000; i++)
        {
            batch.Append(System.Globalization.CultureInfo.InvariantCulture, $"PREPARE p{i} AS SELECT {i}; ");
        }

        await using (var command = new NpgsqlCommand(batch.ToString(), connection) { CommandTimeout = 120 })
        {
            await command.ExecuteNonQueryAsync();
        }

        Assert.Equal(10_000L, await ScalarAsync(connection, "select count(*) from pg_prepared_statements"));
        var (full, _) = await FailsAsync(connection, "PREPARE one_more AS SELECT 1");
        Assert.Equal("54000", full.SqlState);
        Assert.Equal("gatehouse: the session holds 10000 prepared statements, the most Gatehouse tracks is 10000; DEALLOCATE some first", full.MessageText);

        // A protocol-level named statement counts the same.
        await using (var prepared = new NpgsqlCommand("select 1", connection))
        {
            var error = await Assert.ThrowsAsync<PostgresException>(() => prepared.PrepareAsync());
            Assert.Equal("54000", error.SqlState);
        }

        Assert.Equal(9999, await ScalarAsync(connection, "EXECUTE p9999"));
        await ScalarAsync(connection, "DEALLOCATE p0");
        await ScalarAsync(connection, "PREPARE one_more AS SELECT 1");
        Assert.Equal(1, await ScalarAsync(connection, "EXECUTE one_more"));
    }
}
