using System.Globalization;
using System.Text;
using Npgsql;
using Xunit.Abstractions;
using static Gatehouse.IntegrationTests.Step;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// What the fixes for the red team's bypasses must not break: statements an agent (or its driver, psql, pg_dump)
/// sends for good reasons. Each row must succeed with the right result, in both set-ups and both protocols,
/// under the same policy as the bypass table.
/// </summary>
[Collection(RedTeamCollection.Name)]
public sealed class RedTeamFalsePositiveTests(RedTeamFixture fixture, ITestOutputHelper output)
{
    private static RedTeamRow Legit(string id, string sql, string? expect) => new(id, [Q(sql)]) { Expect = expect };

    private static RedTeamRow Steps(string id, string? expect, params Step[] steps) => new(id, steps) { Expect = expect };

    private const RedTeamProtocol Raw = RedTeamProtocol.Simple | RedTeamProtocol.RawExtended;

    public static readonly RedTeamRow[] Rows =
    [
        Legit("select 1 as insert", "select 1 as insert", "1"),
        Legit("count(*) AS update", "SELECT count(*) AS update FROM orders", "500"),
        Legit("aliases named after commands", "SELECT id AS delete, id AS drop, id AS grant, id AS truncate, id AS copy FROM orders WHERE id = 3", "3,3,3,3,3"),
        Legit("columns named after commands", """SELECT "select", "delete", "grant" FROM redteam_words WHERE id = 1""", "chosen,kept,3"),
        Legit("update columns named after commands", """UPDATE redteam_words SET "delete" = 'changed', "grant" = 4 WHERE id = 1""", "affected 1"),
        Legit("insert returning an alias named after a command", """INSERT INTO redteam_words (id, "select") VALUES (2, 'x') RETURNING id AS insert""", "2"),
        Legit("a string that reads like SQL", "SELECT 'EXPLAIN ANALYZE DELETE FROM payments; SET ROLE postgres' AS text", "EXPLAIN ANALYZE DELETE FROM payments; SET ROLE postgres"),
        Legit("quotes of every kind", """SELECT 'it''s', E'a\\b', $$x$$, $q$y$q$, U&'\0041', "id" FROM orders WHERE id = 1""", "it's,a\\b,x,y,A,1"),
        Legit("reading payments", "SELECT count(*) FROM payments", "10"),
        Legit("lower() with the default search_path", "SELECT lower('X')", "x"),
        Legit("UPDATE orders … FROM payments (only read)", "UPDATE orders SET total = total FROM payments WHERE payments.order_id = orders.id", "affected 10"),
        Steps("SELECT … JOIN payments FOR UPDATE OF o", "7",
            Q("BEGIN"), Q("SELECT o.id FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = 7 FOR UPDATE OF o"), Q("COMMIT")),
        Steps("SELECT … JOIN payments FOR UPDATE OF orders", "7",
            Q("BEGIN"), Q("SELECT orders.id FROM orders JOIN payments ON payments.order_id = orders.id WHERE orders.id = 7 FOR UPDATE OF orders"), Q("COMMIT")),
        Steps("SELECT … JOIN payments FOR NO KEY UPDATE OF o", "7",
            Q("BEGIN"), Q("SELECT o.id FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = 7 FOR NO KEY UPDATE OF o"), Q("COMMIT")),
        Steps("SELECT … JOIN payments FOR SHARE OF orders", "7",
            Q("BEGIN"), Q("SELECT orders.id FROM orders JOIN payments ON payments.order_id = orders.id WHERE orders.id = 7 FOR SHARE OF orders"), Q("COMMIT")),
        Steps("pg_dump's LOCK TABLE … IN ACCESS SHARE MODE", "500",
            Q("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"), Q("LOCK TABLE public.orders IN ACCESS SHARE MODE"), Q("SELECT count(*) FROM public.orders"), Q("COMMIT")),
        Steps("pg_dump's set_config('search_path', '', false)", "500",
            Q("SELECT pg_catalog.set_config('search_path', '', false)"), Q("SELECT count(*) FROM public.orders")),
        Legit("pg_dump's set_config(name, …) FROM pg_settings",
            "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'", "view, foreign-table"),
        Legit("set_config('search_path', 'public')", "SELECT set_config('search_path', 'public', false)", "public"),
        Steps("SQL PREPARE and EXECUTE", "500", Q("PREPARE q AS SELECT count(*) FROM orders"), Q("EXECUTE q"), Q("DEALLOCATE q")),
        Steps("EXECUTE s1 of a protocol-level Parse \"s1\"", "500", ParseOnly("s1", "SELECT count(*) FROM orders"), Q("EXECUTE s1"))
            with { Protocols = Raw },
        Steps("a cursor: DECLARE, FETCH, CLOSE", "1,2",
            Q("BEGIN"), Q("DECLARE c CURSOR FOR SELECT id FROM orders ORDER BY id"), Q("FETCH 2 FROM c"), Q("CLOSE c"), Q("COMMIT")),
        Legit("EXPLAIN without ANALYZE of a payments write", "EXPLAIN (COSTS off) DELETE FROM payments WHERE id = 7", null),
        Legit("EXPLAIN ANALYZE of a read", "EXPLAIN (ANALYZE, COSTS off, TIMING off) SELECT count(*) FROM orders", null),
        Steps("SET search_path = public", "x,500", Q("SET search_path = public"), Q("SELECT lower('X'), count(*) FROM orders")),
        Steps("SET search_path = pg_catalog, public", "x,500", Q("SET search_path = pg_catalog, public"), Q("SELECT lower('X'), count(*) FROM orders")),
        Steps("RESET search_path", "x", Q("SET search_path TO DEFAULT"), Q("RESET search_path"), Q("SELECT lower('X')")),
        Steps("SET client_encoding = 'UTF8'", "é", Q("SET client_encoding = 'UTF8'"), Q("SELECT 'é'")),
        Steps("SET NAMES 'UTF8'", "UTF8", Q("SET NAMES 'UTF8'"), Q("SHOW client_encoding")),
        Steps("SET client_encoding = 'LATIN1'", "4", Q("SET client_encoding = 'LATIN1'"), Bytes("SELECT length('caf\u00e9')")) with { Protocols = Raw },
        Steps("SET client_encoding = 'WIN1252'", "WIN1252", Q("SET client_encoding = 'WIN1252'"), Q("SHOW client_encoding")) with { Protocols = Raw },
        Steps("SET client_encoding = 'EUC_JP'", "EUC_JP", Q("SET client_encoding = 'EUC_JP'"), Q("SHOW client_encoding")) with { Protocols = Raw },
        Steps("startup client_encoding=LATIN1", "LATIN1", Q("SHOW client_encoding")) with { Protocols = Raw, Startup = [new("client_encoding", "LATIN1")] },
        Steps("startup options -c search_path=public", "x", Q("SELECT lower('X')")) with { Startup = [new("options", "-c search_path=public")] },
        Steps("SET standard_conforming_strings = on", "a\\b", Q("SET standard_conforming_strings = on"), Q("SELECT 'a\\b'")),
        // A backslash in a plain literal, with standard_conforming_strings on as it always is here.
        Legit("a regex with a backslash in a plain literal", "SELECT 'a1' ~ '\\d'", "t"),
        Legit("a Windows path in a plain literal", "SELECT length('C:\\temp\\x')", "9"),
        Legit("a backslash in an E'' literal", "SELECT E'C:\\\\temp'", "C:\\temp"),
        Steps("SET application_name", "agent-7", Q("SET application_name = 'agent-7'"), Q("SHOW application_name")),
        Legit("set_config('application_name')", "SELECT set_config('application_name', 'agent-8', false)", "agent-8"),
        Steps("SET statement_timeout and TIME ZONE", "UTC", Q("SET statement_timeout = '5s'"), Q("SET TIME ZONE 'UTC'"), Q("SHOW TimeZone")),
        Steps("RESET ALL", "1", Q("RESET ALL"), Q("SELECT 1")),
        Steps("DISCARD ALL (pgbouncer's reset)", "1", Q("DISCARD ALL"), Q("SELECT 1")),
        Steps("Npgsql's reset with prepared statements",
            "1",
            Q("SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;SELECT pg_advisory_unlock_all();DISCARD SEQUENCES;DISCARD TEMP"), Q("SELECT 1"))
            with { Protocols = RedTeamProtocol.Simple },
        Steps("psql with FETCH_COUNT (DECLARE/FETCH cursors)", "1,2,3,4,5", Q("\\set FETCH_COUNT 2"), Q("SELECT id FROM orders WHERE id <= 5 ORDER BY id"))
            with { Protocols = RedTeamProtocol.Psql },
    ];

    public static TheoryData<string, string, RedTeamProtocol> Cases() => RedTeamRunner.Cases(Rows);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Legit_statement_succeeds(string id, string setupName, RedTeamProtocol protocol)
    {
        var (row, setup) = RedTeamRunner.Find(Rows, id, setupName);
        string caseId = RedTeamRunner.CaseId(row, setup, protocol);
        await fixture.ResetAsync();
        var transcript = new StringBuilder();
        var outcomes = new List<Outcome>();
        RedTeamRunner.After after;
        if (protocol == RedTeamProtocol.Psql)
        {
            var (outcome, psqlAfter) = await RedTeamRunner.RunPsqlAsync(fixture, row, setup);
            outcomes.Add(outcome);
            transcript.Append("  psql: ").AppendLine(outcome.ToString());
            after = psqlAfter;
        }
        else
        {
            var (session, refusal) = await RedTeamRunner.OpenAsync(fixture, row, setup, protocol);
            Assert.True(session is not null, $"{caseId}: connection refused: {refusal}");
            await using (session)
            {
                foreach (var step in row.Steps.Select(s => RedTeamRunner.Render(fixture, s, setup)))
                {
                    var outcome = await session.RunAsync(step);
                    outcomes.Add(outcome);
                    transcript.Append("  ").Append(step).Append("\n    → ").AppendLine(outcome.ToString());
                }

                after = await RedTeamRunner.AfterAsync(session);
            }
        }

        transcript.Append("  after: ").AppendLine(after.Log);
        output.WriteLine(transcript.ToString());
        var errors = outcomes.SelectMany(o => o.Errors.Select(e => $"{e.SqlState} {e.Message}")
            .Concat(o.ClientError is null ? [] : ["client: " + o.ClientError])).ToList();
        Assert.True(errors.Count == 0, $"{caseId} was refused or failed:\n  {string.Join("\n  ", errors)}\ntranscript:\n{transcript}");
        if (row.Expect is not null)
        {
            var last = protocol == RedTeamProtocol.Psql ? outcomes[^1] : outcomes.LastOrDefault(o => o.Values.Count > 0) ?? outcomes[^1];
            string seen = row.Expect.StartsWith("affected ", StringComparison.Ordinal) ? Affected(last) : string.Join(",", last.Values);
            Assert.True(seen == row.Expect, $"{caseId}: expected {row.Expect}, got {seen}\ntranscript:\n{transcript}");
        }

        Assert.True(after.Usable, $"{caseId}: the session is not usable afterwards\ntranscript:\n{transcript}");
        Assert.Empty(await fixture.EffectsAsync());
    }

    /// <summary>Rows changed by the last statement: from the raw client's command tag or Npgsql's count.</summary>
    private static string Affected(Outcome outcome)
    {
        foreach (var tag in outcome.Tags)
        {
            var words = tag.Split(' ');
            if (words[0] is "affected" or "INSERT" or "UPDATE" or "DELETE" or "MERGE")
            {
                return "affected " + words[^1];
            }
        }

        return "affected ?";
    }

    [Theory]
    [InlineData(RedTeamSetup.Default, true)]
    [InlineData(RedTeamSetup.Default, false)]
    [InlineData(RedTeamSetup.Power, true)]
    public async Task Npgsql_pooled_connections_are_reset_and_reused(RedTeamSetup setup, bool prepare)
    {
        // On reuse Npgsql resets the session: DISCARD ALL, or, when it keeps prepared statements,
        // SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;… before the next query.
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = fixture.Port,
            Database = TestGateway.Target,
            Username = "agent",
            Password = fixture.Token(setup, RedTeamGrant.Main),
            SslMode = SslMode.Disable,
            Pooling = true,
            MaxPoolSize = 1,
            NoResetOnClose = false,
            Timeout = 15,
            CommandTimeout = 15,
        };
        await using var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        int? backend = null;
        for (int round = 0; round < 3; round++)
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await using var command = new NpgsqlCommand("SELECT name FROM customers WHERE id = $1", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = 4 });
            if (prepare)
            {
                await command.PrepareAsync();
            }

            Assert.Equal("Customer 4", await command.ExecuteScalarAsync());
            await using var who = new NpgsqlCommand("SELECT pg_backend_pid()", connection);
            int pid = (int)(await who.ExecuteScalarAsync())!;
            backend ??= pid;
            Assert.Equal(backend, pid); // the same pooled session each round
        }
    }

    [Fact]
    public async Task Pg_dump_of_a_table_runs_through_the_gateway()
    {
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1",
            ["PGPORT"] = fixture.Port.ToString(CultureInfo.InvariantCulture),
            ["PGDATABASE"] = TestGateway.Target,
            ["PGUSER"] = "agent",
            ["PGPASSWORD"] = fixture.Token(RedTeamSetup.Default, RedTeamGrant.Main),
            ["PGSSLMODE"] = "disable",
        };
        var result = await ProcessRunner.RunAsync(ProcessRunner.PostgresTool("pg_dump", fixture.BinDirectory), ["--data-only", "-t", "public.customers"], env);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("COPY public.customers", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Customer 100", result.Stdout, StringComparison.Ordinal);
    }
}
