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
