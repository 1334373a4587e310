using System.Text;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>A gateway under the default policy (DO allowed, writes to payments denied) and a DBA's function that
/// redefines a prepared statement by name, as any PL/pgSQL helper that runs SQL it is given can.</summary>
public sealed class HiddenCodeFixture : IAsyncLifetime
{
    public const string Redefine = """
        CREATE FUNCTION redefine(statement text, query text) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
          EXECUTE format('DEALLOCATE %I', statement);
          EXECUTE format('PREPARE %I AS %s', statement, query);
        END $$;
        CREATE FUNCTION touch() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
        CREATE FUNCTION redefine_at_plan(statement text, query text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN PERFORM redefine(statement, query); RETURN 1; END $$;
        CREATE VIEW redefining_view AS SELECT redefine_at_plan('sv', 'SELECT ''replaced''::text') AS r;
        GRANT SELECT ON redefining_view TO app_read;
        INSERT INTO payments (order_id, card_number, amount) SELECT g, '4111-0000-0000-' || lpad(g::text, 4, '0'), g FROM generate_series(1, 5) g;
        """;

    public TestGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { ExtraSchema = Redefine });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>
/// Code Gatehouse does not read (a DO block, a user function) shares the prepared-statement and cursor namespace with
/// the client: <c>EXECUTE 'DEALLOCATE s1'; EXECUTE 'PREPARE s1 AS …'</c> redefines a statement the client prepared.
/// A red team (B2) had a Bind of that name run the replacement while Gatehouse decided and recorded the old text. Now
/// the statement is prepared again before its next Bind or Describe, SQL EXECUTE and FETCH of a name made before the
/// code are refused, and so is an Execute of a portal bound before it.
/// </summary>
public sealed class HiddenCodeTests(HiddenCodeFixture fixture) : IClassFixture<HiddenCodeFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    private static string Shape(IEnumerable<WireReply> replies) => string.Join(' ', replies);

    private static string RedefineBlock(string statement, string query) =>
        $"DO $$ BEGIN EXECUTE 'DEALLOCATE {statement}'; EXECUTE 'PREPARE {statement} AS {query.Replace("'", "''", StringComparison.Ordinal)}'; END $$";

    private Task<WireClient> ConnectAsync(string subject = "agent-hidden") => WireClient.ConnectAsync(Gateway.Port, "agent", Gateway.Token(subject));

    // A DO block that makes pg_temp.rd(), which redefines the statement as a DELETE of payments, and then runs `made`
    // (which calls it where Gatehouse does not see a call).
    private static string TemporaryRedefinition(string statement, string made) =>
        "DO $$ BEGIN "
        + $"EXECUTE 'CREATE FUNCTION pg_temp.rd() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.redefine(''{statement}'', ''DELETE FROM payments RETURNING 1''); RETURN 1; END $f$'; "
        + $"EXECUTE '{made}'; END $$";

    // A Bind of the statement runs the text Gatehouse decided, and payments keeps its rows.
    private async Task AssertRunsOriginalAsync(WireClient client, string statement, long paymentsBefore)
    {
        var rows = await client.Bind("", statement).Execute("").Sync().RoundTripAsync();
        Assert.Equal("2 D C Z", Shape(rows));
        Assert.Equal("original", rows[1].FirstValue());
        Assert.Equal(paymentsBefore, await PaymentsAsync());
    }

    private Task<long> PaymentsAsync() => Gateway.Postgres.ScalarAsync<long>("SELECT count(*) FROM payments", TestGateway.Target);

    [Fact]
    public async Task Straight_to_PostgreSQL_a_DO_block_redefines_a_protocol_prepared_statement()
    {
        // The attack this class defends against, shown on the server itself: the Bind runs the replacement.
        await using var direct = await WireClient.ConnectAsync(Gateway.Postgres.Port, Gateway.Postgres.SuperUser, Gateway.Postgres.SuperUserPassword);
        Assert.Equal("1 Z", Shape(await direct.Parse("s1", "SELECT 'original'::text").Sync().RoundTripAsync()));
        Assert.Equal("C Z", Shape(await direct.Query(RedefineBlock("s1", "SELECT 'replaced'::text")).RoundTripAsync()));
        var rows = await direct.Bind("", "s1").Execute("").Sync().RoundTripAsync();
        Assert.Equal("replaced", rows.Single(r => r.Type == 'D').FirstValue());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_Bind_after_a_DO_block_that_redefined_its_statement_runs_the_statement_Gatehouse_decided(bool pipelined)
    {
        await using var client = await ConnectAsync();
        client.Parse("s1", "SELECT 'original'::text").Sync();
        if (!pipelined)
        {
            Assert.Equal("1 Z", Shape(await client.RoundTripAsync()));
        }

        client.Query(RedefineBlock("s1", "SELECT 'replaced'::text"));
        if (!pipelined)
        {
            Assert.Equal("C Z", Shape(await client.RoundTripAsync()));
        }

        client.Bind("", "s1").Execute("").Sync();
        if (pipelined)
        {
            Assert.Equal("1 Z", Shape(await client.RoundTripAsync()));
            Assert.Equal("C Z", Shape(await client.RoundTripAsync()));
        }

        var rows = await client.RoundTripAsync();
        Assert.Equal("2 D C Z", Shape(rows)); // the Close and Parse sent ahead of the Bind are not answered to the client
        Assert.Equal("original", rows[1].FirstValue());
        // Prepared again once: the next Bind runs it as it is.
        Assert.Equal("original", (await client.Bind("", "s1").Execute("").Sync().RoundTripAsync())[1].FirstValue());
    }

    [Fact]
    public async Task A_user_function_cannot_turn_a_prepared_read_into_a_denied_write()
    {
        long before = await PaymentsAsync();
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("count_payments", "SELECT count(*) FROM payments").Sync().RoundTripAsync()));
        // The call is a read (rule payments-readonly denies writes to payments); its body is not seen.
        var call = await client.Parse("", "SELECT redefine('count_payments', 'DELETE FROM payments RETURNING 1')").Bind("", "").Execute("").Sync().RoundTripAsync();
        Assert.Equal("1 2 D C Z", Shape(call));
        var rows = await client.Bind("", "count_payments").Execute("").Sync().RoundTripAsync();
        Assert.Equal("2 D C Z", Shape(rows));
        Assert.Equal(before.ToString(System.Globalization.CultureInfo.InvariantCulture), rows[1].FirstValue());
        Assert.Equal(before, await PaymentsAsync());
    }

    [Fact]
    public async Task A_Describe_after_hidden_code_describes_the_statement_Gatehouse_decided()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("s3", "SELECT 1 AS original").Sync().RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query(RedefineBlock("s3", "SELECT 2 AS replaced, 3 AS extra")).RoundTripAsync()));
        var described = await client.Describe('S', "s3").Sync().RoundTripAsync();
        Assert.Equal("t T Z", Shape(described));
        string description = Encoding.UTF8.GetString(described[1].Payload);
        Assert.Contains("original", description, StringComparison.Ordinal);
        Assert.DoesNotContain("replaced", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_statement_prepared_before_a_builtin_function_call_is_not_prepared_again()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("s4", "SELECT 4").Sync().RoundTripAsync()));
        const string PreparedAt = "SELECT prepare_time::text FROM pg_prepared_statements WHERE name = 's4'";
        string? before = (await client.Query(PreparedAt).RoundTripAsync())[1].FirstValue();
        Assert.Contains('D', Shape(await client.Query("SELECT now(), lower('X'), 1 + 1").RoundTripAsync()));
        Assert.Equal("2 D C Z", Shape(await client.Bind("", "s4").Execute("").Sync().RoundTripAsync()));
        Assert.Equal(before, (await client.Query(PreparedAt).RoundTripAsync())[1].FirstValue());

        // After a DO block it is: the server's statement is a new one.
        Assert.Equal("C Z", Shape(await client.Query("DO $$ BEGIN PERFORM 1; END $$").RoundTripAsync()));
        Assert.Equal("2 D C Z", Shape(await client.Bind("", "s4").Execute("").Sync().RoundTripAsync()));
        Assert.NotEqual(before, (await client.Query(PreparedAt).RoundTripAsync())[1].FirstValue());
    }

    [Fact]
    public async Task SQL_EXECUTE_of_a_statement_prepared_before_a_DO_block_is_refused_until_it_is_prepared_again()
    {
        long before = await PaymentsAsync();
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query("PREPARE q AS SELECT count(*) FROM payments").RoundTripAsync()));
        Assert.Equal("T D C Z", Shape(await client.Query("EXECUTE q").RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query(RedefineBlock("q", "DELETE FROM payments")).RoundTripAsync()));
        var refused = await client.Query("EXECUTE q").RoundTripAsync();
        Assert.Equal('E', refused[0].Type);
        Assert.Contains("may have been redefined by code Gatehouse does not read", refused[0].Error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await PaymentsAsync());

        // Prepared again, it is known again (and decided as what it now is).
        Assert.Equal("C C Z", Shape(await client.Query("DEALLOCATE q; PREPARE q AS SELECT count(*) FROM payments").RoundTripAsync()));
        Assert.Equal("T D C Z", Shape(await client.Query("EXECUTE q").RoundTripAsync()));
    }

    [Fact]
    public async Task EXECUTE_after_a_DO_block_in_one_query_string_is_refused_and_nothing_runs()
    {
        long before = await PaymentsAsync();
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query("PREPARE q2 AS SELECT 1").RoundTripAsync()));
        var refused = await client.Query(RedefineBlock("q2", "DELETE FROM payments") + "; EXECUTE q2").RoundTripAsync();
        Assert.Equal("E(0A000) Z", Shape(refused));
        Assert.Contains("may not follow code Gatehouse does not read", refused[0].Error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await PaymentsAsync());
        Assert.Equal("T D C Z", Shape(await client.Query("EXECUTE q2").RoundTripAsync())); // the DO did not run: q2 is still known
    }

    [Fact]
    public async Task FETCH_from_a_cursor_declared_before_a_user_function_call_is_refused()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("C C Z", Shape(await client.Query("BEGIN; DECLARE c CURSOR FOR SELECT name FROM customers ORDER BY id").RoundTripAsync()));
        Assert.Equal("D C Z", Shape(await client.Query("FETCH 1 FROM c").RoundTripAsync())[2..]);
        Assert.Equal("T D C Z", Shape(await client.Query("SELECT touch()").RoundTripAsync()));
        var fetched = await client.Query("FETCH 1 FROM c").RoundTripAsync();
        Assert.Equal('E', fetched[0].Type);
        Assert.Contains("may have been replaced by code Gatehouse does not read", fetched[0].Error.Message, StringComparison.Ordinal);
        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK").RoundTripAsync()));
    }

    [Fact]
    public async Task An_Execute_of_a_portal_bound_before_a_DO_block_is_refused()
    {
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
        var first = await client.Parse("", "SELECT id FROM customers ORDER BY id").Bind("p1", "").Execute("p1", 1).Sync().RoundTripAsync();
        Assert.Equal("1 2 D s Z", Shape(first));
        Assert.Equal("C Z", Shape(await client.Query("DO $$ BEGIN PERFORM 1; END $$").RoundTripAsync()));
        var refused = await client.Execute("p1", 1).Sync().RoundTripAsync();
        Assert.Equal("E(34000) Z", Shape(refused));
        Assert.Contains("bound before code Gatehouse does not read ran", refused[0].Error.Message, StringComparison.Ordinal);
        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK").RoundTripAsync()));
    }

    [Fact]
    public async Task Npgsql_prepared_commands_survive_a_DO_block_that_redefines_every_prepared_statement()
    {
        await using var connection = await Gateway.OpenAsync(Gateway.Token("agent-hidden-npgsql"));
        await using var read = new NpgsqlCommand("SELECT 'original'::text", connection);
        await read.PrepareAsync();
        Assert.Equal("original", await read.ExecuteScalarAsync());
        await using (var redefine = new NpgsqlCommand("""
            DO $$ DECLARE r record; BEGIN
              FOR r IN SELECT name FROM pg_prepared_statements LOOP
                EXECUTE format('DEALLOCATE %I', r.name);
                EXECUTE format('PREPARE %I AS SELECT %L::text', r.name, 'replaced');
              END LOOP;
            END $$
            """, connection))
        {
            await redefine.ExecuteNonQueryAsync();
        }

        Assert.Equal("original", await read.ExecuteScalarAsync());
        Assert.Equal("original", await read.ExecuteScalarAsync());
    }

    [Theory]
    [InlineData("COMMIT")]
    [InlineData("Sync")]
    public async Task A_WITH_HOLD_cursor_over_hidden_code_cannot_redefine_a_statement_prepared_before_its_commit(string commit)
    {
        // A second red team (A1, A2): a holdable cursor's query runs when its transaction commits, after statements
        // parsed since its DECLARE; payments lost every row to a prepared "read".
        long before = await PaymentsAsync();
        await using var client = await ConnectAsync();
        const string Declare = "DECLARE held CURSOR WITH HOLD FOR SELECT redefine('s9', 'DELETE FROM payments RETURNING 1')";
        if (commit == "COMMIT")
        {
            Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
            Assert.Equal("C Z", Shape(await client.Query(Declare).RoundTripAsync()));
            Assert.Equal("1 Z", Shape(await client.Parse("s9", "SELECT 'original'::text").Sync().RoundTripAsync()));
            Assert.Equal("C Z", Shape(await client.Query("COMMIT").RoundTripAsync()));
        }
        else
        {
            Assert.Equal("1 2 C 1 Z", Shape(await client.Parse("", Declare).Bind("", "").Execute("").Parse("s9", "SELECT 'original'::text").Sync().RoundTripAsync()));
        }

        await AssertRunsOriginalAsync(client, "s9", before);
    }

    [Fact]
    public async Task An_IMMUTABLE_function_PostgreSQL_runs_at_Bind_counts_as_hidden_code_there()
    {
        // A6: planned at Bind, its constant-argument call runs before the Bind of the other statement.
        await using var client = await ConnectAsync();
        Assert.Equal("1 1 Z", Shape(await client.Parse("s6", "SELECT 'original'::text").Parse("s6b", "SELECT redefine_at_plan('s6', 'SELECT ''replaced''::text')").Sync().RoundTripAsync()));
        var rows = await client.Bind("p6", "s6b").Bind("", "s6").Execute("").Sync().RoundTripAsync();
        Assert.Equal("2 2 D C Z", Shape(rows));
        Assert.Equal("original", rows[2].FirstValue());
    }

    [Theory]
    [InlineData("SELECT * FROM redefining_view", "sv")]
    [InlineData("SELECT pg_temp.rt('st', 'SELECT ''replaced''::text')", "st")]
    [InlineData("SELECT * FROM temp_view", "stv")]
    public async Task Views_and_temporary_objects_that_call_code_count_as_hidden_code(string query, string statement)
    {
        // A3–A5: a DBA's view over a function, and a session's temporary function or view (the catalog, read over
        // another session, cannot see them).
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query(TemporaryObjects).RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await client.Parse(statement, "SELECT 'original'::text").Sync().RoundTripAsync()));
        Assert.Contains('D', Shape(await client.Query(query).RoundTripAsync()));
        var rows = await client.Bind("", statement).Execute("").Sync().RoundTripAsync();
        Assert.Equal("2 D C Z", Shape(rows));
        Assert.Equal("original", rows[1].FirstValue());
    }

    private const string TemporaryObjects =
        "DO $$ BEGIN "
        + "EXECUTE 'CREATE FUNCTION pg_temp.rt(n text, q text) RETURNS int LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.redefine(n, q); RETURN 1; END $f$'; "
        + "EXECUTE 'CREATE TEMP VIEW temp_view AS SELECT public.redefine_at_plan(''stv'', ''SELECT ''''replaced''''::text'') AS r'; "
        + "END $$";

    [Fact]
    public async Task A_statement_prepared_again_in_an_aborted_transaction_survives_the_rollback()
    {
        // B1: the Parse Gatehouse put before the Bind failed (25P02) after its Close went through; PostgreSQL would
        // still have the statement after ROLLBACK, and so does the client through the gateway.
        await using var client = await ConnectAsync();
        Assert.Equal("1 Z", Shape(await client.Parse("b1", "SELECT 'original'::text").Sync().RoundTripAsync()));
        Assert.Equal("C C E(22012) Z", Shape(await client.Query("BEGIN; DO $$ BEGIN PERFORM 1; END $$; SELECT 1/0").RoundTripAsync()));
        Assert.Equal("E(25P02) Z", Shape(await client.Bind("", "b1").Execute("").Sync().RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query("ROLLBACK").RoundTripAsync()));
        var rows = await client.Bind("", "b1").Execute("").Sync().RoundTripAsync();
        Assert.Equal("2 D C Z", Shape(rows));
        Assert.Equal("original", rows[1].FirstValue());
    }

    [Theory]
    [InlineData("COMMIT")]
    [InlineData("Sync")]
    public async Task A_deferred_trigger_code_made_cannot_redefine_a_statement_prepared_before_the_commit(string commit)
    {
        // A third red team: a DO block made a temporary table with a deferred trigger that redefines s3; the trigger ran
        // at the COMMIT (or the Sync ending the implicit transaction), after s3 was parsed, and payments lost every row.
        long before = await PaymentsAsync();
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query(
            "DO $$ BEGIN "
            + "EXECUTE 'CREATE FUNCTION pg_temp.trg() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.redefine(''s3'', ''DELETE FROM payments RETURNING 1''); RETURN NULL; END $f$'; "
            + "EXECUTE 'CREATE TEMP TABLE tq (a int)'; "
            + "EXECUTE 'CREATE CONSTRAINT TRIGGER t AFTER INSERT ON tq DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.trg()'; "
            + "END $$").RoundTripAsync()));
        if (commit == "COMMIT")
        {
            Assert.Equal("C Z", Shape(await client.Query("BEGIN").RoundTripAsync()));
            Assert.Equal("C Z", Shape(await client.Query("INSERT INTO tq VALUES (1)").RoundTripAsync()));
            Assert.Equal("1 Z", Shape(await client.Parse("s3", "SELECT 'original'::text").Sync().RoundTripAsync()));
            Assert.Equal("C Z", Shape(await client.Query("COMMIT").RoundTripAsync()));
        }
        else
        {
            Assert.Equal("1 2 C 1 Z", Shape(await client.Parse("", "INSERT INTO tq VALUES (1)").Bind("", "").Execute("").Parse("s3", "SELECT 'original'::text").Sync().RoundTripAsync()));
        }

        await AssertRunsOriginalAsync(client, "s3", before);
    }

    [Theory]
    [InlineData("CREATE TEMP TABLE orders (id int DEFAULT pg_temp.rd(), customer_id int, total numeric)", "INSERT INTO orders (customer_id, total) VALUES (1, 1)")]
    [InlineData("CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.rd() = 1)", "SELECT 'x'::text")]
    public async Task A_temporary_object_that_shadows_a_real_one_cannot_redefine_a_prepared_statement(string shadow, string trigger)
    {
        // A third red team: unqualified names resolve to pg_temp first, so the statement's facts name the real table or
        // type while the server runs the temporary one's code.
        long before = await PaymentsAsync();
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query(TemporaryRedefinition("s2", shadow)).RoundTripAsync()));
        Assert.Equal("1 Z", Shape(await client.Parse("s2", "SELECT 'original'::text").Sync().RoundTripAsync()));
        Assert.DoesNotContain("E", Shape(await client.Query(trigger).RoundTripAsync()));
        await AssertRunsOriginalAsync(client, "s2", before);
    }

    [Fact]
    public async Task Parses_past_the_session_s_budget_are_not_kept_and_a_stale_Bind_of_one_is_refused()
    {
        // A third red team kept 1 GiB per session with 300 Parses of 1 MiB: kept frames now share a 16 MiB budget.
        await using var client = await ConnectAsync();
        string big = "SELECT 'original'::text /* " + new string('x', 1000 * 1000) + " */";
        for (int i = 0; i < 17; i++)
        {
            Assert.Equal("1 Z", Shape(await client.Parse($"big{i}", big).Sync().RoundTripAsync()));
        }

        Assert.Equal("C Z", Shape(await client.Query("DO $$ BEGIN PERFORM 1; END $$").RoundTripAsync()));
        Assert.Equal("original", (await client.Bind("", "big0").Execute("").Sync().RoundTripAsync())[1].FirstValue());
        var refused = await client.Bind("", "big16").Execute("").Sync().RoundTripAsync();
        Assert.Equal("E(0A000) Z", Shape(refused));
        Assert.Contains("prepare it again", refused[0].Error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("CREATE TEMP TABLE orders (id int DEFAULT pg_temp.rd(), customer_id int, total numeric)", "INSERT INTO orders (customer_id, total) VALUES (1, 1)")]
    [InlineData("CREATE FUNCTION pg_temp.eq(int, int) RETURNS bool LANGUAGE sql AS $g$ SELECT pg_temp.rd() = 1 $g$; CREATE OPERATOR pg_temp.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = pg_temp.eq)", "SELECT 1 OPERATOR(pg_temp.===) 2")]
    public async Task Once_code_ran_SQL_EXECUTE_runs_a_statement_only_until_another_statement_runs(string made, string trigger)
    {
        // A fourth red team: after a DO block made temporary objects, code Gatehouse does not recognise (a default, a
        // temporary operator) redefined a SQL-prepared "read" as a DELETE, and EXECUTE ran it as the read.
        long before = await PaymentsAsync();
        await using var client = await ConnectAsync();
        Assert.Equal("C Z", Shape(await client.Query(TemporaryRedefinition("q4", made)).RoundTripAsync()));
        Assert.Equal("C Z", Shape(await client.Query("PREPARE q4 AS SELECT count(*) FROM payments").RoundTripAsync()));
        Assert.Equal("T D C Z", Shape(await client.Query("EXECUTE q4").RoundTripAsync())); // its own executions go on
        Assert.Equal("T D C Z", Shape(await client.Query("EXECUTE q4").RoundTripAsync()));
        Assert.DoesNotContain("E", Shape(await client.Query(trigger).RoundTripAsync()));
        var refused = await client.Query("EXECUTE q4").RoundTripAsync();
        Assert.Equal("E(42501) Z", Shape(refused));
        Assert.Contains("may have been redefined", refused[0].Error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await PaymentsAsync());
    }

    [Fact]
    public async Task The_trail_records_the_statement_prepared_again_after_the_code()
    {
        string subject = "agent-hidden-audit-" + Guid.NewGuid().ToString("N")[..6];
        await using (var client = await ConnectAsync(subject))
        {
            Assert.Equal("1 Z", Shape(await client.Parse("s5", "SELECT 'original'::text").Sync().RoundTripAsync()));
            Assert.Equal("C Z", Shape(await client.Query(RedefineBlock("s5", "SELECT 'replaced'::text")).RoundTripAsync()));
            Assert.Equal("2 D C Z", Shape(await client.Bind("", "s5").Execute("").Sync().RoundTripAsync()));
        }

        var records = await AuditSessionTests.ExportedSessionAsync(Gateway.ConfigPath, subject);
        var statements = records.Where(r => r.GetProperty("kind").GetString() == "statement").Select(r => r.GetProperty("body").GetProperty("sql").GetString()).ToList();
        Assert.Equal(2, statements.Count(s => s == "SELECT 'original'::text"));
        Assert.DoesNotContain(statements, s => s == "SELECT 'replaced'::text");
    }
}
