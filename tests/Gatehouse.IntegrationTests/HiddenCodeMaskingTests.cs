using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>The masking fixture's data behind two grants with column masks: one denies class <c>code</c> (the realistic
/// one), one allows DO blocks; and a DBA's functions that open cursors by name and keep values in settings, and a
/// deferred trigger that raises a notice with masked values.</summary>
public sealed class HiddenCodeMaskingFixture : IAsyncLifetime
{
    private const string Masks = """
              - { columns: ["public.customers.email"], with: email }
              - { columns: ["*.ssn", "*.card_number"], with: last4 }
              - { columns: ["public.customers.phone"], with: hash }
        """;

    private static string Policy => $$"""
        identities:
          code-denied: { claims: { groups: code-denied } }
          code-allowed: { claims: { groups: code-allowed } }
        grants:
          - to: code-denied
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin, code] }, then: deny }
            masks:
        {{Masks}}
          - to: code-allowed
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
            masks:
        {{Masks}}
        """;

    private const string Functions = """
        CREATE FUNCTION customer_cursor_for(c refcursor) RETURNS refcursor LANGUAGE plpgsql AS $$
        BEGIN OPEN c FOR SELECT id, email, email || '' AS email_copy, ssn, ssn || '' AS ssn_copy FROM customers ORDER BY id; RETURN c; END $$;
        CREATE FUNCTION remember_customer(int) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN PERFORM set_config('app.customer_email', (SELECT email FROM customers WHERE id = $1), false); END $$;
        CREATE FUNCTION customers_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE NOTICE 'customer changed: % %', OLD.email, OLD.ssn; RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER customers_audit AFTER UPDATE ON customers DEFERRABLE INITIALLY DEFERRED
          FOR EACH ROW EXECUTE FUNCTION customers_audit();
        CREATE FUNCTION redefine(statement text, query text) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN EXECUTE format('DEALLOCATE %I', statement); EXECUTE format('PREPARE %I AS %s', statement, query); END $$;
        CREATE FUNCTION redefine_at_plan(statement text, query text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN PERFORM redefine(statement, query); RETURN 1; END $$;
        CREATE FUNCTION check_redefine(v text) RETURNS bool LANGUAGE plpgsql AS $$
        BEGIN PERFORM redefine(split_part(v, '|', 1), split_part(v, '|', 2)); RETURN true; END $$;
        CREATE DOMAIN redefining AS text CHECK (check_redefine(VALUE));
        """;

    public TestGateway Gateway { get; private set; } = null!;

    public string CodeDenied { get; private set; } = "";

    public string CodeAllowed { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = Policy, Postgres = new(), ExtraSchema = MaskingFixture.Schema + "\n" + Functions });
        CodeDenied = Gateway.Token("hidden-code-denied", ("groups", "code-denied"));
        CodeAllowed = Gateway.Token("hidden-code-allowed", ("groups", "code-allowed"));
    }

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>
/// A red team's fifth round: under column masks, code Gatehouse does not read carried raw values out through a cursor
/// name the session had declared before (the function opened its own cursor under it), a setting it set, a temporary
/// table, a prepared statement's text, advisory lock keys, a DO block's messages, and a deferred trigger's notice at
/// COMMIT. Each script must reach the client without a raw value of a masked column, notices included.
/// </summary>
public sealed class HiddenCodeMaskingTests(HiddenCodeMaskingFixture fixture) : IClassFixture<HiddenCodeMaskingFixture>
{
    private async Task<List<WireReply>> RunAsync(bool codeAllowed, params string[] script)
    {
        await using var client = await WireClient.ConnectAsync(fixture.Gateway.Port, "agent", codeAllowed ? fixture.CodeAllowed : fixture.CodeDenied);
        var replies = new List<WireReply>();
        foreach (var sql in script)
        {
            var answer = await client.Query(sql).RoundTripAsync(notices: true);
            string text = string.Join('\n', answer.Select(r => System.Text.Encoding.UTF8.GetString(r.Payload).Replace('\0', ' ')));
            foreach (var needle in MaskingFixture.Needles(MaskGrant.Columns))
            {
                Assert.False(text.Contains(needle.Text, StringComparison.Ordinal), $"{needle.What} reached the client after {sql}: {text}");
            }

            replies.AddRange(answer);
        }

        return replies;
    }

    // The constant a statement was prepared as, or redacted once code ran in the session (every statement is tainted
    // then: what the code left behind may be read anywhere); never the replacement's raw values.
    private static readonly string[] Constant = ["x", "[redacted]"];

    private static string Messages(IEnumerable<WireReply> replies) =>
        string.Join('\n', replies.Where(r => r.Type is 'E' or 'N').Select(r => r.Error.Message));

    [Fact]
    public async Task A_cursor_a_function_opened_under_a_name_declared_before_is_not_fetched_with_the_old_query_s_facts()
    {
        // After COMMIT the server has no cursor of that name, but the session's facts still had it.
        var replies = await RunAsync(false,
            "BEGIN", "DECLARE customer_cursor CURSOR FOR SELECT 1 AS id, 'x'::text AS e, 'y'::text AS ssn", "COMMIT",
            "BEGIN", "SELECT open_customer_cursor()", "FETCH ALL FROM customer_cursor", "COMMIT");
        Assert.Contains("may have been replaced by code Gatehouse does not read", Messages(replies), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cursor_reopened_after_ROLLBACK_TO_SAVEPOINT_and_read_by_cursor_to_xml_gives_no_raw_value()
    {
        await RunAsync(false,
            "BEGIN", "SAVEPOINT a", "DECLARE cur CURSOR FOR SELECT 1", "ROLLBACK TO SAVEPOINT a",
            "SELECT customer_cursor_for('cur')", "FETCH 5 FROM cur", "ROLLBACK");
        await RunAsync(false,
            "BEGIN", "DECLARE cur CURSOR FOR SELECT 1", "ROLLBACK",
            "BEGIN", "SELECT customer_cursor_for('cur')", "SELECT cursor_to_xml('cur', 3, false, false, '')", "ROLLBACK");
        await RunAsync(false,
            "BEGIN; DECLARE cur CURSOR FOR SELECT 1; COMMIT",
            "BEGIN; SELECT customer_cursor_for('cur'); FETCH 3 FROM cur; COMMIT");
    }

    [Fact]
    public async Task A_cursor_a_function_opened_gives_no_raw_value_through_Npgsql()
    {
        var settings = new NpgsqlConnectionStringBuilder(fixture.Gateway.ConnectionString(fixture.CodeDenied, ssl: false)) { Pooling = false };
        await using var connection = new NpgsqlConnection(settings.ConnectionString);
        await connection.OpenAsync();
        var seen = new List<string>();
        async Task RunAsync(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            try
            {
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    seen.AddRange(Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "NULL" : reader.GetValue(i).ToString()!));
                }
            }
            catch (PostgresException ex)
            {
                seen.Add(ex.Message + " " + ex.Detail);
            }
        }

        foreach (var sql in (string[])["BEGIN", "DECLARE cur CURSOR FOR SELECT 1", "ROLLBACK", "BEGIN", "SELECT customer_cursor_for('cur')", "FETCH 3 FROM cur", "ROLLBACK"])
        {
            await RunAsync(sql);
        }

        string text = string.Join('\n', seen);
        foreach (var needle in MaskingFixture.Needles(MaskGrant.Columns))
        {
            Assert.False(text.Contains(needle.Text, StringComparison.Ordinal), $"{needle.What} reached the client: {text}");
        }
    }

    [Fact]
    public async Task A_setting_a_function_set_from_a_masked_column_is_read_back_redacted()
    {
        var replies = await RunAsync(false,
            "SELECT remember_customer(7)", "SHOW app.customer_email", "SELECT current_setting('app.customer_email')",
            "SELECT name, setting FROM pg_settings WHERE name LIKE 'app.%'");
        Assert.Contains(replies, r => r.Type == 'D');
    }

    [Fact]
    public async Task A_deferred_trigger_s_notice_at_COMMIT_or_SET_CONSTRAINTS_is_withheld()
    {
        await RunAsync(false, "BEGIN", "UPDATE customers SET name = name WHERE id = 1", "COMMIT");
        await RunAsync(false, "BEGIN", "UPDATE customers SET name = name WHERE id = 4", "SET CONSTRAINTS ALL IMMEDIATE", "ROLLBACK");
    }

    [Fact]
    public async Task A_DO_block_s_messages_are_withheld_under_masks()
    {
        var replies = await RunAsync(true,
            "DO $$ BEGIN RAISE NOTICE 'n %', (SELECT email FROM customers WHERE id = 1); END $$",
            "DO $$ BEGIN RAISE WARNING 'w' USING DETAIL = (SELECT ssn FROM customers WHERE id = 2), HINT = (SELECT card_number FROM customers WHERE id = 2); END $$",
            "DO $$ BEGIN RAISE EXCEPTION 'e %', (SELECT string_agg(email, ',') FROM customers); END $$",
            "DO $$ DECLARE x int; BEGIN x := (SELECT email FROM customers WHERE id = 3); END $$");
        Assert.Contains(replies, r => r.Type == 'E'); // the exception still fails the statement, its SQLSTATE kept
    }

    [Fact]
    public async Task State_a_DO_block_leaves_behind_is_read_back_redacted()
    {
        await RunAsync(true,
            "DO $$ BEGIN PERFORM set_config('app.leak', (SELECT email FROM customers WHERE id = 5), false); END $$",
            "SHOW app.leak",
            "DO $$ BEGIN CREATE TEMP TABLE leak AS SELECT id, email, ssn FROM customers; END $$",
            "SELECT * FROM leak LIMIT 3", "SELECT * FROM pg_temp.leak LIMIT 3",
            "DO $$ BEGIN EXECUTE format('PREPARE leakstmt AS SELECT %L::text', (SELECT email FROM customers WHERE id = 6)); END $$",
            "SELECT name, statement FROM pg_prepared_statements", "EXECUTE leakstmt");
    }

    [Fact]
    public async Task Advisory_lock_keys_a_DO_block_took_from_a_masked_column_are_redacted()
    {
        var replies = await RunAsync(true,
            "BEGIN", "DO $$ BEGIN PERFORM pg_advisory_xact_lock(ascii(substr(email, 1, 1)), ascii(substr(email, 2, 1))) FROM customers WHERE id = 1; END $$",
            "SELECT classid::text, objid::text FROM pg_locks WHERE locktype = 'advisory'", "ROLLBACK");
        var row = Assert.Single(replies, r => r.Type == 'D');
        Assert.DoesNotContain("97", System.Text.Encoding.UTF8.GetString(row.Payload), StringComparison.Ordinal); // 'a' of alice…
    }

    [Fact]
    public async Task Under_masks_a_statement_another_statement_ran_after_is_prepared_again_whatever_ran()
    {
        // A second red team's M1–M4: a WITH HOLD cursor run at COMMIT, an IMMUTABLE function run at Bind, a domain's
        // CHECK (not recognised as code at all) redefined a constant statement as a query whose untraceable column
        // passed unmasked. Under masks a named statement is prepared again once any other statement ran.
        const string Leak = "SELECT concat(card_number) FROM payments ORDER BY id LIMIT 3";
        await using var client = await WireClient.ConnectAsync(fixture.Gateway.Port, "agent", fixture.CodeDenied);
        var replies = new List<WireReply>();
        async Task<List<WireReply>> Step(WireClient messages)
        {
            var answer = await messages.RoundTripAsync(notices: true);
            replies.AddRange(answer);
            return answer;
        }

        await Step(client.Query("BEGIN"));
        await Step(client.Query($"DECLARE held CURSOR WITH HOLD FOR SELECT redefine('m1', '{Leak.Replace("'", "''", StringComparison.Ordinal)}')"));
        await Step(client.Parse("m1", "SELECT 'x'::text").Sync());
        await Step(client.Query("COMMIT"));
        Assert.Contains((await Step(client.Bind("", "m1").Execute("").Sync()))[1].FirstValue(), Constant);

        await Step(client.Parse("m3", "SELECT 'x'::text").Sync());
        await Step(client.Query($"SELECT 'm3|{Leak.Replace("'", "''", StringComparison.Ordinal)}'::redefining"));
        Assert.Contains((await Step(client.Bind("", "m3").Execute("").Sync()))[1].FirstValue(), Constant);

        await Step(client.Parse("m4", "SELECT 'x'::text").Parse("m4b", $"SELECT redefine_at_plan('m4', '{Leak.Replace("'", "''", StringComparison.Ordinal)}')").Sync());
        var bound = await Step(client.Bind("p4", "m4b").Bind("", "m4").Execute("").Sync());
        Assert.Contains(bound.First(r => r.Type == 'D').FirstValue(), Constant);
        MaskingNameTests.AssertNoRawValue(replies);
    }

    [Fact]
    public async Task Under_masks_a_deferred_trigger_at_Sync_cannot_redefine_a_statement_parsed_in_its_batch()
    {
        // A third red team's most severe: the trigger fires at the Sync, after m8's Parse in the same batch.
        await using var client = await WireClient.ConnectAsync(fixture.Gateway.Port, "agent", fixture.CodeAllowed);
        var replies = new List<WireReply>();
        replies.AddRange(await client.Query(
            "DO $$ BEGIN "
            + "EXECUTE 'CREATE FUNCTION pg_temp.trg8() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN PERFORM public.redefine(''m8'', ''SELECT concat(card_number) FROM payments ORDER BY id LIMIT 3''); RETURN NULL; END $f$'; "
            + "EXECUTE 'CREATE TEMP TABLE tq8 (a int)'; "
            + "EXECUTE 'CREATE CONSTRAINT TRIGGER t8 AFTER INSERT ON tq8 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.trg8()'; "
            + "END $$").RoundTripAsync(notices: true));
        replies.AddRange(await client.Parse("", "INSERT INTO tq8 VALUES (1)").Bind("", "").Execute("").Parse("m8", "SELECT 'x'::text").Sync().RoundTripAsync(notices: true));
        var bound = await client.Bind("", "m8").Execute("").Sync().RoundTripAsync(notices: true);
        replies.AddRange(bound);
        Assert.True(bound.Any(r => r.Type == 'D'), string.Join(' ', replies) + " " + string.Join(" | ", replies.Where(r => r.Type == 'E').Select(r => r.Error.Message)));
        Assert.Contains(bound.First(r => r.Type == 'D').FirstValue(), Constant);
        MaskingNameTests.AssertNoRawValue(replies);
    }

    [Fact]
    public async Task Under_masks_a_temporary_table_named_like_an_unmasked_one_reads_back_redacted()
    {
        var replies = await RunAsync(true,
            "DO $$ BEGIN CREATE TEMP TABLE orders AS SELECT email AS total, ssn AS customer_id FROM customers; END $$",
            "SELECT * FROM orders LIMIT 3", "SELECT total FROM orders LIMIT 3");
        Assert.Contains(replies, r => r.Type == 'D');
    }

    [Fact]
    public async Task Under_masks_SQL_EXECUTE_runs_a_statement_only_until_another_statement_runs()
    {
        // A fourth red team: a DBA's domain whose CHECK redefines statements (not recognised as code) turned a
        // SQL-prepared constant into a query of raw e-mails and SSNs under the code-denied grant.
        var replies = await RunAsync(false,
            "PREPARE q AS SELECT 'x'::text AS e",
            "EXECUTE q", "EXECUTE q",
            "SELECT 'q|SELECT concat(email) AS e, concat(ssn) AS s FROM customers ORDER BY id LIMIT 3'::redefining",
            "EXECUTE q");
        Assert.Contains("may have been redefined", Messages(replies), StringComparison.Ordinal);
        Assert.Equal(2, replies.Count(r => r.Type == 'D' && r.FirstValue() == "x"));
    }

    [Fact]
    public async Task Statements_a_DO_block_redefined_give_no_raw_value()
    {
        await using var client = await WireClient.ConnectAsync(fixture.Gateway.Port, "agent", fixture.CodeAllowed);
        var replies = new List<WireReply>();
        replies.AddRange(await client.Parse("h", "SELECT 'x'::text AS e").Sync().RoundTripAsync(notices: true));
        replies.AddRange(await client.Query("PREPARE p AS SELECT 'x'::text AS e").RoundTripAsync(notices: true));
        replies.AddRange(await client.Query("DO $$ BEGIN EXECUTE 'DEALLOCATE h'; EXECUTE 'PREPARE h AS SELECT lower(email) AS e FROM customers ORDER BY id LIMIT 2'; "
            + "EXECUTE 'DEALLOCATE p'; EXECUTE 'PREPARE p AS SELECT lower(email) AS e, ssn || '''' AS s FROM customers ORDER BY id LIMIT 2'; END $$").RoundTripAsync(notices: true));
        var bound = await client.Describe('S', "h").Bind("", "h").Execute("").Sync().RoundTripAsync(notices: true);
        Assert.Equal("t T 2 D C Z", string.Join(' ', bound));
        Assert.Contains(bound[3].FirstValue(), (string[])["x", "[redacted]"]); // after code ran, untraceable columns are redacted
        replies.AddRange(bound);
        replies.AddRange(await client.Query("EXECUTE h").RoundTripAsync(notices: true));
        replies.AddRange(await client.Query("EXECUTE p").RoundTripAsync(notices: true));
        MaskingNameTests.AssertNoRawValue(replies);
    }
}
