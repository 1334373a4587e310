using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// A gateway whose only rules are on <c>commands</c> (docs/cookbook.md's deletes-need-a-dba shape), with db_roles that
/// may delete, update, truncate payments and create tables, so the rules are the only wall.
/// </summary>
public sealed class CommandRuleFixture : TestGateway, IAsyncLifetime
{
    public const string Policy = """
        identities:
          coding-agents: { claims: { groups: ai-agents } }
        grants:
          - to: coding-agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-delete, when: { commands: [DELETE] }, then: deny }
              - { id: no-update, when: { commands: [UPDATE] }, then: deny }
              - { id: no-create, when: { commands: ["CREATE *"] }, then: deny }
              - { id: no-truncate, when: { commands: [TRUNCATE] }, then: deny }
        """;

    private const string Schema = """
        GRANT CREATE ON SCHEMA public TO app_write;
        GRANT TRUNCATE ON payments TO app_write;
        INSERT INTO payments (order_id, card_number, amount) SELECT 100 + g, 'card' || g, g FROM generate_series(1, 10) g;
        """;

    public Task InitializeAsync() => InitializeAsync(new TestGatewayOptions { Policy = Policy, ExtraSchema = Schema });

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}

/// <summary>
/// Red team finding F3: <c>commands</c> rules saw only the outer command tag, so a DELETE inside a CTE, EXPLAIN
/// ANALYZE, MERGE, PREPARE/EXECUTE or COPY (…) ran and deleted rows under a <c>commands: [DELETE]</c> deny. Each
/// bypass is shown to change data when run directly (as superuser, rolled back), then refused through the gateway
/// over the simple and the extended protocol, and afterwards the data is checked to be untouched.
/// </summary>
public sealed class CommandRuleTests(CommandRuleFixture fixture) : IClassFixture<CommandRuleFixture>
{
    /// <summary>Orders rows and their total: what every bypass below would change.</summary>
    private const string Fingerprint = "SELECT count(*)::text || '/' || coalesce(sum(total), 0)::text || '/' || (SELECT count(*) FROM payments)::text"
        + " || '/' || (SELECT count(*) FROM pg_class WHERE relname LIKE 'made%') FROM orders";

    public static TheoryData<string, string> Bypasses => new()
    {
        { "WITH x AS (DELETE FROM orders WHERE id=3 RETURNING id) SELECT * FROM x", "no-delete" },
        { "WITH a AS (SELECT 1), x AS (DELETE FROM orders WHERE id=5 RETURNING id) SELECT * FROM x", "no-delete" },
        { "EXPLAIN ANALYZE DELETE FROM orders WHERE id=4", "no-delete" },
        { "EXPLAIN (ANALYZE, FORMAT json) DELETE FROM orders WHERE id=4", "no-delete" },
        { "MERGE INTO orders o USING (SELECT 7 id) s ON o.id=s.id WHEN MATCHED THEN DELETE", "no-delete" },
        { "COPY (DELETE FROM orders WHERE id=9 RETURNING *) TO STDOUT", "no-delete" },
        { "CREATE TABLE made_a AS WITH d AS (DELETE FROM orders WHERE id=10 RETURNING *) SELECT * FROM d", "no-delete" },
        { "INSERT INTO orders (id, total) VALUES (11, 0) ON CONFLICT (id) DO UPDATE SET total = 0", "no-update" },
        { "MERGE INTO orders o USING (SELECT 12 id) s ON o.id=s.id WHEN MATCHED THEN UPDATE SET total = 0", "no-update" },
        { "WITH u AS (UPDATE orders SET total = 0 WHERE id=13 RETURNING *) SELECT count(*) FROM u", "no-update" },
        { "EXPLAIN ANALYZE CREATE TABLE made_b AS SELECT * FROM orders", "no-create" },
        { "SELECT * INTO made_c FROM orders", "no-create" },
        { "EXPLAIN ANALYZE SELECT * INTO made_d FROM orders", "no-create" },
        { "TRUNCATE payments", "no-truncate" },
    };

    [Theory]
    [MemberData(nameof(Bypasses))]
    public async Task A_command_anywhere_in_the_statement_is_denied_and_nothing_changes(string sql, string rule)
    {
        string? before = await FingerprintAsync();
        Assert.NotEqual(before, await DirectlyAsync(sql));   // the statement really does change data (rolled back)

        await using var client = await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token());
        var simple = await client.Query(sql).RoundTripAsync();
        AssertDenied(simple, rule);
        var extended = await client.Parse("", sql).Bind("", "").Execute("").Sync().RoundTripAsync();
        AssertDenied(extended, rule);
        Assert.Equal("1", (await client.Query("SELECT 1").RoundTripAsync()).Single(r => r.Type == 'D').FirstValue());

        Assert.Equal(before, await FingerprintAsync());
    }

    [Fact]
    public async Task Prepare_of_a_delete_is_denied_so_execute_has_nothing_to_run()
    {
        string? before = await FingerprintAsync();
        await using var client = await WireClient.ConnectAsync(fixture.Port, "agent", fixture.Token());

        AssertDenied(await client.Query("PREPARE p AS DELETE FROM orders WHERE id=8; EXECUTE p").RoundTripAsync(), "no-delete");
        AssertDenied(await client.Query("PREPARE p AS DELETE FROM orders WHERE id=8").RoundTripAsync(), "no-delete");
        var execute = (await client.Query("EXECUTE p").RoundTripAsync()).Single(r => r.Type == 'E').Error;
        Assert.Equal("42501", execute.SqlState);
        Assert.StartsWith("gatehouse: statement not understood", execute.Message, StringComparison.Ordinal);

        // A prepared SELECT is allowed, and so is executing it: the rules see what runs, nothing more.
        Assert.DoesNotContain(await client.Query("PREPARE q AS SELECT count(*) FROM orders").RoundTripAsync(), r => r.Type == 'E');
        Assert.Equal("500", (await client.Query("EXECUTE q").RoundTripAsync()).Single(r => r.Type == 'D').FirstValue());
        Assert.Equal(before, await FingerprintAsync());
    }

    [Theory]
    [InlineData("EXPLAIN DELETE FROM orders WHERE id=4")]
    [InlineData("INSERT INTO orders (id, total) VALUES (1, 0) ON CONFLICT DO NOTHING")]
    [InlineData("WITH x AS (SELECT * FROM orders WHERE id=3) SELECT count(*) FROM x")]
    public async Task Statements_that_run_none_of_the_commands_are_allowed(string sql)
    {
        string? before = await FingerprintAsync();
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
        Assert.Equal(before, await FingerprintAsync());
    }

    private static void AssertDenied(List<WireReply> replies, string rule)
    {
        var error = Assert.Single(replies, r => r.Type == 'E').Error;
        Assert.Equal("42501", error.SqlState);
        Assert.StartsWith($"gatehouse: denied by rule {rule}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(replies, r => r.Type is 'C' or 'D' or 'H');
    }

    private Task<string?> FingerprintAsync() => fixture.Postgres.ScalarAsync<string>(Fingerprint, TestGateway.Target);

    /// <summary>The fingerprint after running <paramref name="sql"/> as superuser straight on PostgreSQL, rolled back.</summary>
    private async Task<string> DirectlyAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(fixture.Postgres.ConnectionString(TestGateway.Target));
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        if (sql.StartsWith("COPY", StringComparison.Ordinal))
        {
            using var reader = await connection.BeginTextExportAsync(sql);
            await reader.ReadToEndAsync();
        }
        else
        {
            await using var run = new NpgsqlCommand(sql, connection, transaction);
            await run.ExecuteNonQueryAsync();
        }

        await using var probe = new NpgsqlCommand(Fingerprint, connection, transaction);
        string after = (string)(await probe.ExecuteScalarAsync())!;
        await transaction.RollbackAsync();
        return after;
    }
}
