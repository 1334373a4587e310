using System.Text;
using Gatehouse.Testing;

namespace Gatehouse.Sql.Tests;

/// <summary>
/// The analyzer against the real server: for each query string, the server (simple query protocol)
/// must return one result per statement the analyzer found, each with the command tag the analyzer named.
/// </summary>
public sealed class DifferentialTests(DifferentialTests.TrustServer fixture) : IClassFixture<DifferentialTests.TrustServer>
{
    private readonly RawPgClient _client = fixture.Client;

    /// <summary>One throwaway server (trust auth) and one raw connection for the whole class.</summary>
    public sealed class TrustServer : IAsyncLifetime
    {
        private PostgresServer? _server;
        private RawPgClient? _client;

        internal RawPgClient Client => _client ?? throw new InvalidOperationException("not started");

        public async Task InitializeAsync()
        {
            _server = await PostgresServer.StartAsync(new PostgresServerOptions { HostAuthMethod = "trust" });
            _client = await RawPgClient.ConnectAsync(_server.Host, _server.Port);
            var setup = await _client.QueryAsync("""
                create table t (id int primary key, a int, b text);
                create table u (id int, a int);
                create table payments (id int, amount numeric);
                create table archive (id int, amount numeric);
                create schema s; create table s.t (id int, a int);
                create table "Mixed" (id int);
                create table cmd (id int, "delete" int, merge int, "update" int);
                create sequence sq2; create role app_read;
                insert into t values (1, 1, 'x'), (2, 2, 'y'); insert into u values (1, 5)
                """);
            Assert.DoesNotContain(setup, r => r.StartsWith("ERROR", StringComparison.Ordinal));
        }

        public async Task DisposeAsync()
        {
            _client?.Dispose();
            if (_server is not null)
                await _server.DisposeAsync();
        }
    }

    public static TheoryData<string> Scripts => new()
    {
        "select 1; select ';' ; select $$;$$",
        "select E'\\';'; select 2",
        "select /* ; /* ; */ */ 1 -- ;\n; select \"a;b\" from (select 1 as \"a;b\") x",
        "select U&'\\0041;' ; select U&\"a\" UESCAPE '!' from (select 1 as a) x",
        "select 'a'\n'b'; select $a$ $$ ; $a$; select 1 + -- c\n 2",
        "SeLeCt/**/1;SELECT\t2;;;",
        "  ",
        "-- only a comment",
        "begin; insert into t values (100, 1, 'x'); update t set a = 2 where id = 100; delete from t where id = 100; commit",
        "with d as (delete from u where id = -1 returning *) insert into archive select id, 0 from d",
        "merge into t using u on t.id = u.id when matched then update set a = u.a",
        "select * from t for update; select * from t join u on true for share of t",
        "prepare p1 (int) as select * from t where id = $1; execute p1(1); deallocate p1",
        "explain select * from t; explain analyze select 1; explain (analyze, costs off) delete from archive",
        "create table ctas as select * from t; select * into si from t; drop table ctas, si",
        "create materialized view mv as select 1 as x; refresh materialized view mv; drop materialized view mv",
        "copy t to stdout; copy (select 1) to stdout; copy u from stdin",
        "set search_path to public; reset search_path; show search_path",
        "declare c cursor with hold for select * from t; fetch 1 from c; move 1 in c; close c",
        "begin; savepoint sp; rollback to savepoint sp; release sp; commit",
        "start transaction; abort",
        "listen ch; notify ch, 'x'; unlisten ch",
        "discard all",
        "vacuum u",
        "analyze u",
        "checkpoint",
        "create index ti on t (lower(b)); drop index ti",
        "create view v as select * from t; drop view v",
        "create role r1; grant r1 to postgres; revoke r1 from postgres; grant select on t to r1; revoke select on t from r1; drop role r1",
        "create user r2; alter user r2 nologin; drop user r2",
        "create function f1() returns int begin atomic select 1; select case when true then 2 end; end; select f1(); drop function f1()",
        "create rule r as on insert to u do also (insert into archive values (1, 1); insert into archive values (2, 2)); drop rule r on u",
        "do $$ begin perform 1; end $$",
        "create function f2() returns int begin atomic select 1 as case; end; drop function f2()",
        "create procedure p0() language sql as $$ select 1 $$; call p0(); drop procedure p0",
        "truncate archive; begin; lock table t in share mode; commit",
        "values (1), (2); table t; (select 1) union (select 2)",
        "comment on table t is 'x'; alter table t add column c int default 0; alter table t drop column c",
        "create sequence sq; select nextval('sq'); drop sequence sq",
        "create temp table tt (a int); insert into tt values (1) returning *; drop table tt",
        "select 1 as \"from\", 2 \"join\"; select * from \"Mixed\"; select * from S.T",
        "create type mood as enum ('a'); alter type mood add value 'b'; drop type mood",
        "create schema s2; alter schema s2 rename to s3; drop schema s3",
        "set role postgres; reset role; set session authorization postgres; reset session authorization",
        "set transaction isolation level read committed; set constraints all immediate",
        "create domain posint as int check (value > 0); drop domain posint",
        "create extension if not exists plpgsql; comment on column t.a is 'y'",
        "update t set a = u.a from u where u.id = t.id; delete from u using t where false",
        "insert into t values (9, 9, 'z') on conflict (id) do update set a = excluded.a; insert into t values (9, 9, 'z') on conflict do nothing",
        "select * from t where a in (select a from u) and exists (select 1 from s.t); select count(*) filter (where a > 0) over () from t",
        "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select * from r",
        "reindex table t; cluster t using t_pkey",
        "alter system set work_mem = '4MB'; ",
    };

    [Theory]
    [MemberData(nameof(Scripts))]
    public async Task Server_agrees_with_the_analyzer(string sql) => await CompareAsync(sql);

    [Fact]
    public async Task Server_agrees_on_generated_statements()
    {
        var rng = new Random(7);
        for (var n = 0; n < 120; n++)
        {
            var sb = new StringBuilder();
            for (var k = rng.Next(1, 4); k > 0; k--)
                sb.Append(Trivia(rng)).Append(Generate(rng)).Append(Trivia(rng)).Append(';');
            await CompareAsync(sb.ToString());
        }
    }

    /// <summary>The red team's bypasses, run by the server: each statement's facts say what the server did.</summary>
    public static TheoryData<string, string[]> Bypasses => new()
    {
        { "EXPLAIN (\"analyze\") DELETE FROM payments WHERE id = 7", ["write EXPLAIN w=payments c=DELETE"] },
        { "EXPLAIN (ANALYZE 001) DELETE FROM payments WHERE id = 7; EXPLAIN (ANALYZE \"true\") DELETE FROM payments WHERE id = 7", ["write EXPLAIN w=payments c=DELETE", "write EXPLAIN w=payments c=DELETE"] },
        { "EXPLAIN (ANALYZE E'on') DELETE FROM payments WHERE id = 7; EXPLAIN (ANALYZE +1) DELETE FROM payments WHERE id = 7", ["write EXPLAIN w=payments c=DELETE", "write EXPLAIN w=payments c=DELETE"] },
        { "EXPLAIN (ANALYZE $$on$$) DELETE FROM payments WHERE id = 7; EXPLAIN (U&\"analyze\") DELETE FROM payments WHERE id = 7", ["write EXPLAIN w=payments c=DELETE", "write EXPLAIN w=payments c=DELETE"] },
        { "EXPLAIN (VERBOSE, \"analyze\") DELETE FROM payments WHERE id = 7; EXPLAIN (analyse, analyze off, analyze) DELETE FROM payments", ["write EXPLAIN w=payments c=DELETE", "write EXPLAIN w=payments c=DELETE"] },
        { "EXPLAIN (ANALYZE 'OFF', COSTS 0, VERBOSE \"false\", FORMAT json) DELETE FROM payments; EXPLAIN (ANALYZE -0) DELETE FROM payments", ["read EXPLAIN r=payments", "read EXPLAIN r=payments"] },
        { "SET \"ROLE\" = app_read; SET U&\"\\0052OLE\" = app_read; SET SESSION \"ROLE\" TO app_read; RESET \"ROLE\"; SET ROLE NONE",
            ["dcl SET set[role=app_read]", "dcl SET set[role=app_read]", "dcl SET set[role=app_read]", "session RESET set[role:default]", "session SET set[role=none]"] },
        { "SET \"SESSION_AUTHORIZATION\" = app_read; RESET SESSION AUTHORIZATION; SET SESSION AUTHORIZATION app_read; SET SESSION AUTHORIZATION DEFAULT",
            ["dcl SET set[session_authorization=app_read]", "session RESET set[session_authorization:default]", "dcl SET set[session_authorization=app_read]", "session SET set[session_authorization:default]"] },
        { "SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;SELECT pg_advisory_unlock_all();DISCARD SEQUENCES;DISCARD TEMP",
            ["session SET set[session_authorization:default]", "session RESET set[all:default]", "session CLOSE CURSOR ALL -cursor:*", "session UNLISTEN", "read SELECT f=pg_advisory_unlock_all", "session DISCARD SEQUENCES", "session DISCARD TEMP"] },
        { "SELECT set_config('ROLE', 'app_read', false); SELECT set_config('role', 'none', false); SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', true)",
            ["dcl SELECT f=set_config set[role=app_read]", "read SELECT f=set_config set[role=none]", "read SELECT f=pg_catalog.set_config set[local search_path=public, pg_catalog]"] },
        { "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'; RESET restrict_nonsystem_relation_kind",
            ["read SELECT r=pg_settings f=set_config set[restrict_nonsystem_relation_kind=view, foreign-table]", "session RESET set[restrict_nonsystem_relation_kind:default]"] },
        { "SET search_path = 'A', \"B\", s, 'select', \"$user\", public; SET SCHEMA 'public'; SET NAMES 'UTF8'; SET TIME ZONE 'UTC'; SET XML OPTION CONTENT; RESET search_path",
            ["session SET set[search_path=\"A\", \"B\", s, \"select\", \"$user\", public]", "session SET set[search_path=public]", "session SET set[client_encoding=UTF8]",
             "session SET set[timezone=UTC]", "session SET set[xmloption=CONTENT]", "session RESET set[search_path:default]"] },
        { "SELECT query_to_xml('select pg_read_file(''PG_VERSION'')', true, false, '')", ["admin SELECT f=query_to_xml,pg_read_file"] },
        { "BEGIN; SELECT query_to_xml('select lo_creat(-1)', true, false, ''); ROLLBACK", ["transaction BEGIN", "read SELECT f=query_to_xml,lo_creat", "transaction ROLLBACK"] },
        { "SELECT query_to_xml($q$select * from t; select 1 from payments$q$, true, false, ''); SELECT query_to_xmlschema(E'select * from \\\"Mixed\\\"', true, false, '')",
            ["read SELECT r=t,payments f=query_to_xml", "read SELECT r=Mixed f=query_to_xmlschema"] },
        { "SELECT table_to_xml('t', true, false, ''); SELECT table_to_xml_and_xmlschema(tbl => ' S . T ', nulls => true, tableforest => false, targetns => '')",
            ["read SELECT r=t f=table_to_xml", "read SELECT r=s.t f=table_to_xml_and_xmlschema"] },
        { "SELECT ts_stat('select to_tsvector(b) from t'); SELECT ts_rewrite('a & b'::tsquery, 'select ''a''::tsquery, ''c''::tsquery from u')",
            ["read SELECT r=t f=ts_stat,to_tsvector", "read SELECT r=u f=ts_rewrite"] },
        { "SELECT schema_to_xml('s', true, false, ''); SELECT nextval('sq2'), currval('sq2')", ["read SELECT f=schema_to_xml reads-any", "write SELECT w=sq2 f=nextval,currval"] },
        { "BEGIN; DECLARE c CURSOR FOR SELECT * FROM t; FETCH 1 FROM c; MOVE 1 IN c; SELECT cursor_to_xml('c', 1, true, false, ''); CLOSE c; COMMIT",
            ["transaction BEGIN", "read DECLARE CURSOR r=t +cursor:c", "read FETCH r=t", "read MOVE r=t", "read SELECT r=t f=cursor_to_xml", "session CLOSE CURSOR -cursor:c", "transaction COMMIT"] },
        { "PREPARE p AS DELETE FROM payments WHERE id = 7; EXECUTE p; DEALLOCATE p", ["write PREPARE w=payments +prepare:p c=DELETE", "write EXECUTE w=payments c=DELETE", "session DEALLOCATE -prepare:p"] },
        { "CREATE TABLE tc (id int); CREATE VIEW tv AS SELECT * FROM tc; DROP TABLE tc CASCADE; TRUNCATE archive CASCADE",
            ["ddl CREATE TABLE w=tc", "ddl CREATE VIEW r=tc w=tv", "ddl DROP TABLE w=tc writes-any", "write TRUNCATE TABLE w=archive writes-any"] },
        { "BEGIN; SELECT lo_create(4242); SELECT loread(lo_open(4242, 262144), 10); SELECT data FROM pg_largeobject; ROLLBACK",
            ["transaction BEGIN", "read SELECT f=lo_create", "read SELECT f=loread,lo_open", "read SELECT r=pg_largeobject", "transaction ROLLBACK"] },
        { "select 1 as insert; SELECT count(*) AS update FROM t; select cmd.delete, merge, cmd.update from cmd; select 1 insert",
            ["read SELECT", "read SELECT r=t f=count", "read SELECT r=cmd", "read SELECT"] },
        { "BEGIN; LOCK TABLE public.t IN ACCESS SHARE MODE; LOCK u IN ROW EXCLUSIVE MODE; COMMIT",
            ["transaction BEGIN", "read LOCK TABLE r=public.t", "write LOCK TABLE w=u", "transaction COMMIT"] },
        { "SELECT * FROM t o JOIN u p ON o.id = p.id FOR UPDATE OF o; SELECT * FROM t JOIN u ON true FOR SHARE; UPDATE t SET a = u.a FROM u WHERE u.id = t.id",
            ["write SELECT r=u w=t lock", "write SELECT w=t,u lock", "write UPDATE r=u w=t"] },
        { "SELECT E'a'\n'\\''; DELETE FROM payments WHERE id = 7; -- '", ["read SELECT", "write DELETE w=payments"] },
    };

    [Theory]
    [MemberData(nameof(Bypasses))]
    public async Task Server_runs_bypasses_as_the_analyzer_reports(string sql, string[] expected)
    {
        await CompareAsync(sql);
        Assert.Equal(expected, SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements.Select(Render.Facts));
    }

    /// <summary>Text whose statements depend on standard_conforming_strings: the server runs different statements
    /// under its two settings, and the analyzer, which cannot know the setting, calls every statement unknown.</summary>
    [Theory]
    [InlineData(@"SELECT 'a\'; DELETE FROM payments WHERE id = 7; --'", 2, 1)]
    [InlineData(@"SELECT 'x\'' , 1; SELECT 2; --'", 1, 2)]
    public async Task Server_runs_different_statements_under_each_setting_and_the_analyzer_says_unknown(string sql, int on, int off)
    {
        var analysis = SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState());
        Assert.All(analysis.Statements, f => Assert.Contains("depends on standard_conforming_strings", f.UnknownReason, StringComparison.Ordinal));
        foreach (var (setting, count) in new[] { ("on", on), ("off", off) })
        {
            Assert.Equal(["SET"], await _client.QueryAsync($"set standard_conforming_strings = {setting}"));
            var results = await _client.QueryAsync(sql);
            Assert.DoesNotContain(results, r => r.StartsWith("ERROR", StringComparison.Ordinal));
            Assert.Equal(count, results.Count);
        }
        Assert.Equal(["SET"], await _client.QueryAsync("set standard_conforming_strings = on"));
    }

    /// <summary>One query string per statement, as psql sends with FETCH_COUNT: the caller applies effects between them.</summary>
    [Fact]
    public async Task Cursor_facts_follow_the_session_across_query_strings()
    {
        var session = new SqlSessionState();
        (string Sql, string Facts)[] steps =
        [
            ("BEGIN", "transaction BEGIN"),
            ("DECLARE _psql_cursor NO SCROLL CURSOR FOR select * from payments", "read DECLARE CURSOR r=payments +cursor:_psql_cursor"),
            ("FETCH FORWARD 100 FROM _psql_cursor", "read FETCH r=payments"),
            ("CLOSE _psql_cursor", "session CLOSE CURSOR -cursor:_psql_cursor"),
            ("COMMIT", "transaction COMMIT"),
            ("PREPARE q AS SELECT * FROM u", "read PREPARE r=u +prepare:q"),
            ("EXECUTE q", "read EXECUTE r=u"),
            ("DISCARD ALL", "session DISCARD ALL set[session_authorization:default] set[all:default] -prepare:* -cursor:*"),
        ];
        foreach (var (sql, expected) in steps)
        {
            var facts = SqlAnalyzer.Instance.Analyze(sql, session).Statements;
            Assert.Equal(expected, Render.Facts(Assert.Single(facts)));
            var results = await _client.QueryAsync(sql);
            Assert.DoesNotContain(results, r => r.StartsWith("ERROR", StringComparison.Ordinal));
            session.Apply(facts[0]);
        }
        Assert.Equal("unknown EXECUTE", Render.One("EXECUTE q", session));
        Assert.StartsWith("ERROR", Assert.Single(await _client.QueryAsync("EXECUTE q")), StringComparison.Ordinal);
    }

    private async Task CompareAsync(string sql)
    {
        var session = new SqlSessionState();
        var facts = SqlAnalyzer.Instance.Analyze(sql, session).Statements;
        var results = await _client.QueryAsync(sql);
        Assert.DoesNotContain(results, r => r.StartsWith("ERROR", StringComparison.Ordinal));
        if (facts.Count == 0)
        {
            Assert.Equal(["EMPTY"], results);
            return;
        }
        Assert.Equal(facts.Count, results.Count);
        for (var i = 0; i < facts.Count; i++)
        {
            Assert.NotEqual(StatementClass.Unknown, facts[i].Class);
            var tag = string.Join(' ', results[i].Split(' ').TakeWhile(w => !char.IsAsciiDigit(w[0])));
            Assert.Contains(tag, ServerTags(facts[i].Command));
        }
    }

    /// <summary>The tags the server may send for an analyzer command (the analyzer names some more precisely).</summary>
    private static string[] ServerTags(string command) => command switch
    {
        "SELECT INTO" or "CREATE TABLE AS" or "CREATE MATERIALIZED VIEW" => ["SELECT"],
        "EXECUTE" => ["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"],
        _ => [command],
    };

    private static readonly string[] Tables = ["t", "u", "s.t", "\"t\"", "public.t", "S.T", "\"Mixed\""];
    private static readonly string[] Spaces = [" ", "\n", "\t", " /* c */ ", " /* /* n */ */ ", " --x\n", "\r\n"];

    private static string Trivia(Random rng) => rng.Next(3) == 0 ? Spaces[rng.Next(Spaces.Length)] : "";

    private static string Kw(Random rng, string word) =>
        string.Concat(word.Select(c => rng.Next(2) == 0 ? char.ToUpperInvariant(c) : c));

    private static string Generate(Random rng)
    {
        string S() => Spaces[rng.Next(Spaces.Length)];
        var t = Tables[rng.Next(Tables.Length)];
        return rng.Next(9) switch
        {
            0 => $"{Kw(rng, "select")}{S()}count(*){S()}{Kw(rng, "from")}{S()}{t}",
            1 => $"{Kw(rng, "select")} 'x;''y'{S()}{Kw(rng, "as")} \"a;\"",
            2 => $"{Kw(rng, "select")} $q${rng.Next()};$q$",
            3 => $"{Kw(rng, "with")} w {Kw(rng, "as")} ({Kw(rng, "select")} 1 {Kw(rng, "from")} {t}){S()}{Kw(rng, "select")} * {Kw(rng, "from")} w",
            4 => $"{Kw(rng, "insert")}{S()}{Kw(rng, "into")} archive {Kw(rng, "select")} 1, 2 {Kw(rng, "where")} {Kw(rng, "false")}",
            5 => $"{Kw(rng, "update")} u {Kw(rng, "set")} a = a {Kw(rng, "where")} id < 0",
            6 => $"{Kw(rng, "delete")}{S()}{Kw(rng, "from")} archive {Kw(rng, "where")} id = {rng.Next()}",
            7 => $"{Kw(rng, "values")} (E'\\'{rng.Next()}')",
            _ => $"{Kw(rng, "table")}{S()}{t}",
        };
    }
}
