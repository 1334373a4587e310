namespace Gatehouse.Sql.Tests;

/// <summary>
/// Valid SQL that used to be "not understood" (issue 16 item 6): each statement runs on the real server (in a
/// transaction that is rolled back, after <see cref="Setup"/>; table t is the fixture's), and the analyzer gives it the
/// facts shown.
/// Functions called inside the SQL-standard forms are still recorded, so function rules match them.
/// </summary>
public sealed class FidelityTests(DifferentialTests.TrustServer fixture) : IClassFixture<DifferentialTests.TrustServer>
{
    private const string Setup = """
        create table vault (secret text); insert into vault values ('s');
        prepare q as select * from t; prepare qp (int) as select * from t where a = $1
        """;

    public static TheoryData<string, string> Statements => new()
    {
        // COPY: STDIN and STDOUT both name the client, in either direction (gram.y copy_file_name).
        { "COPY t FROM STDOUT", "write COPY w=t" },
        { "copy t (a, b) from stdout with (format csv)", "write COPY w=t" },
        { "COPY t TO STDIN", "copy-out COPY r=t" },
        { "COPY (SELECT * FROM vault) TO STDIN", "copy-out COPY r=vault" },
        // CREATE TABLE … AS EXECUTE: the prepared statement's facts count.
        { "CREATE TABLE t3 AS EXECUTE q", "ddl CREATE TABLE AS r=t w=t3 c=EXECUTE" },
        { "CREATE TABLE t3 AS EXECUTE q WITH NO DATA", "ddl CREATE TABLE AS r=t w=t3 c=EXECUTE" },
        { "CREATE TABLE IF NOT EXISTS t3 AS EXECUTE q WITH DATA", "ddl CREATE TABLE AS r=t w=t3 c=EXECUTE" },
        { "CREATE TEMP TABLE t3 (x, y) AS EXECUTE qp (length('ab')) WITH DATA", "ddl CREATE TABLE AS r=t w=t3 f=length c=EXECUTE" },
        { "CREATE UNLOGGED TABLE t3 AS EXECUTE qp (1)", "ddl CREATE TABLE AS r=t w=t3 c=EXECUTE" },
        // FROM items in SQL-standard function syntax.
        { "SELECT * FROM COALESCE(1, 2) c(c), COLLATION FOR ('x') col(col), CURRENT_DATE d(d), LOCALTIMESTAMP(3) t(t), CAST(1 + 2 AS int8) i8(i8)", "read SELECT f=coalesce" },
        { "SELECT * FROM current_timestamp x, current_time(2) AS y, localtime, localtimestamp lt, current_user u, session_user, user, current_role r, current_catalog c, current_schema s", "read SELECT" },
        { "SELECT * FROM current_schema() s", "read SELECT f=current_schema" },
        { "SELECT * FROM EXTRACT(year FROM now()) e, POSITION('a' IN 'abc') p, SUBSTRING('abc' FROM 1 FOR 2) s, TRIM(BOTH 'x' FROM 'xax') tr, OVERLAY('abc' PLACING 'x' FROM 2) o", "read SELECT f=extract,now,position,substring,trim,overlay" },
        { "SELECT * FROM NULLIF(1, 2) n, GREATEST(1, 2) g, LEAST(1, 2) l", "read SELECT f=nullif,greatest,least" },
        { "SELECT * FROM current_date WITH ORDINALITY AS x(d, n)", "read SELECT" },
        { "SELECT * FROM LATERAL CAST(1 AS int) c, ROWS FROM (CAST(1 AS int), lower('A')) r", "read SELECT f=lower" },
        { "SELECT * FROM t, CAST(t.a AS text) c JOIN vault v ON true", "read SELECT r=t,vault" },
        // What the forms' arguments do is recorded: reads, and functions (so function rules and admin escalation apply).
        { "SELECT * FROM CAST(pg_read_file('postgresql.conf') AS text) x", "admin SELECT f=pg_read_file" },
        { "SELECT * FROM COLLATION FOR ((SELECT secret FROM vault)) x", "read SELECT r=vault" },
        { "SELECT * FROM CAST((SELECT secret FROM vault) AS text) x", "read SELECT r=vault" },
        { "SELECT * FROM LOCALTIMESTAMP(3) t, CAST(pg_cancel_backend(0) AS int) c", "admin SELECT f=pg_cancel_backend" },
        { "SELECT * FROM COALESCE(pg_current_logfile(), 'none') c", "admin SELECT f=coalesce,pg_current_logfile" },
        // A quoted language name.
        { "CREATE FUNCTION f1() RETURNS int LANGUAGE 'plpgsql' AS $$ BEGIN RETURN 1; END $$", "ddl CREATE FUNCTION" },
        { "CREATE OR REPLACE FUNCTION public.f2(a integer) RETURNS integer LANGUAGE 'plpgsql' COST 100 VOLATILE AS $BODY$ BEGIN RETURN a; END $BODY$", "ddl CREATE FUNCTION" },
        { "CREATE FUNCTION f3() RETURNS int AS 'select 1' LANGUAGE 'sql' SET search_path = public", "ddl CREATE FUNCTION" },
        { "CREATE PROCEDURE p1() LANGUAGE 'plpgsql' AS $$ BEGIN END $$", "ddl CREATE PROCEDURE" },
        // Returning to the login identity is not a change of privilege (Npgsql's pool reset sends these).
        { "SET SESSION AUTHORIZATION DEFAULT", "session SET set[session_authorization:default]" },
        { "RESET SESSION AUTHORIZATION", "session RESET set[session_authorization:default]" },
        { "RESET ROLE", "session RESET set[role:default]" },
        { "SET ROLE NONE", "session SET set[role=none]" },
        { "RESET ALL", "session RESET set[all:default]" },
    };

    /// <summary>Close relatives that stay not understood or keep a stronger class.</summary>
    public static TheoryData<string, string> Kept => new()
    {
        { "SET ROLE app_read", "dcl SET set[role=app_read]" },
        { "SET SESSION AUTHORIZATION postgres", "dcl SET set[session_authorization=postgres]" },
        { "SET LOCAL SESSION AUTHORIZATION DEFAULT", "session SET set[local session_authorization:default]" },
        { "CREATE TABLE t3 AS EXECUTE q junk", "unknown CREATE TABLE" },
        { "CREATE MATERIALIZED VIEW m AS EXECUTE q", "unknown CREATE MATERIALIZED VIEW" },
        { "CREATE TABLE t3 AS EXECUTE not_prepared", "unknown CREATE TABLE" },
        { "SELECT * FROM current_user()", "unknown SELECT" },
        { "SELECT * FROM cast", "unknown SELECT" },
        { "SELECT * FROM CAST(1 AS int) c FOR UPDATE OF c", "write SELECT lock" },
        { "SELECT * FROM system_user", "read SELECT" },
    };

    [Theory]
    [MemberData(nameof(Statements))]
    [MemberData(nameof(Kept))]
    public void Analyzer_gives_the_expected_facts(string sql, string expected)
    {
        var session = new SqlSessionState();
        Render.Run(Setup, session);
        Assert.Equal(Render.Canon(expected), Render.One(sql, session));
    }

    [Theory]
    [MemberData(nameof(Statements))]
    public async Task Server_runs_the_statement(string sql, string expected)
    {
        _ = expected;
        await fixture.Client.QueryAsync("rollback; deallocate all");
        var results = await fixture.Client.QueryAsync("begin; " + Setup + "; " + sql + "; rollback");
        Assert.DoesNotContain(results, r => r.StartsWith("ERROR", StringComparison.Ordinal));
        Assert.Equal("ROLLBACK", results[^1]);
    }
}
