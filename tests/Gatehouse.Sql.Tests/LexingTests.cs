namespace Gatehouse.Sql.Tests;

/// <summary>Statement splitting and the lexing cases that decide it, plus obfuscated statements.</summary>
public sealed class LexingTests
{
    private static string[] Split(string sql, bool scs = true) =>
        SqlSplitter.Split(sql, scs).Select(s => sql.Substring(s.Start, s.Length)).ToArray();

    public static TheoryData<string, string[]> Splits => new()
    {
        { "", [] },
        { " ;; -- only a comment\n /* and /* nested */ one */ ;", [] },
        { "select 1; select 2", ["select 1", "select 2"] },
        { "select ';'; select 2;", ["select ';'", "select 2"] },
        { "select 'it''s;'; x", ["select 'it''s;'", "x"] },
        { "select E'\\';' ; x", ["select E'\\';'", "x"] },
        { "select e'a\\\\'; x", ["select e'a\\\\'", "x"] },
        { "select $$;$$; x", ["select $$;$$", "x"] },
        { "select $fn$ $$ ; $x$ $fn$; x", ["select $fn$ $$ ; $x$ $fn$", "x"] },
        { "select a$$b; x", ["select a$$b", "x"] },
        { "select $1; x", ["select $1", "x"] },
        { "select \"a;b\"\"c\"; x", ["select \"a;b\"\"c\"", "x"] },
        { "select U&'\\0041;'; x", ["select U&'\\0041;'", "x"] },
        { "select U&\"a;\" UESCAPE '!' ; x", ["select U&\"a;\" UESCAPE '!'", "x"] },
        { "select /* ; /* ; */ ; */ 1; x", ["select /* ; /* ; */ ; */ 1", "x"] },
        { "select 1 -- ; x\n; y", ["select 1", "y"] },
        { "select 1 +-- ;\n 2; x", ["select 1 +-- ;\n 2", "x"] },
        { "select 1 */* ; */ 2; x", ["select 1 */* ; */ 2", "x"] },
        { "select B'01'; select X'1F'; select N'n;'", ["select B'01'", "select X'1F'", "select N'n;'"] },
        { "create rule r as on insert to t do also (insert into a values (1); insert into b values (2)); x", ["create rule r as on insert to t do also (insert into a values (1); insert into b values (2))", "x"] },
        { "create function f() returns int begin atomic select 1; select case when true then 2 end; end; x", ["create function f() returns int begin atomic select 1; select case when true then 2 end; end", "x"] },
        { "begin; select 1; end; x", ["begin", "select 1", "end", "x"] },
        { "create function f() returns int begin atomic select 1 as case, t.end from t; end; drop table p", ["create function f() returns int begin atomic select 1 as case, t.end from t; end", "drop table p"] },
        { "select E'a'\n'\\''; delete from payments; -- '", ["select E'a'\n'\\''", "delete from payments"] },
        { "select E'a' -- c\n\n  -- d\n'\\''; x; -- '", ["select E'a' -- c\n\n  -- d\n'\\''", "x"] },
        { "select E'a' /* c */\n'\\''; x; -- '", ["select E'a' /* c */\n'\\''; x; -- '"] },
        { "select 'a'\r'b;'; x", ["select 'a'\r'b;'", "x"] },
        { "select 'unterminated; x", ["select 'unterminated; x"] },
        { "select /* unterminated ; x", ["select /* unterminated ; x"] },
    };

    [Theory]
    [MemberData(nameof(Splits))]
    public void Splits_like_the_server(string sql, string[] expected) => Assert.Equal(expected, Split(sql));

    [Fact]
    public void Text_that_means_different_statements_under_the_two_settings_is_unknown()
    {
        const string sql = @"select 'a\'; drop table t; --'";
        Assert.Equal(2, Split(sql, scs: true).Length);
        Assert.Single(Split(sql, scs: false));
        // The server reads it as one SELECT with standard_conforming_strings off and as a DROP with it on; which
        // one a session has is not for the analyzer to guess, whatever the session state says.
        foreach (var scs in new[] { true, false })
        {
            var a = SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState { StandardConformingStrings = scs });
            Assert.All(a.Statements, f => Assert.Equal(StatementClass.Unknown, f.Class));
            Assert.All(a.Statements, f => Assert.Contains("standard_conforming_strings", f.UnknownReason, StringComparison.Ordinal));
        }
    }

    public static TheoryData<string, string[]> Readings => new()
    {
        // Only one reading lexes: the other is a syntax error at the server, which then runs nothing.
        { @"select 'a\'; select 1", ["read SELECT", "read SELECT"] },   // off: unterminated
        { @"select 'a\'; select 1'", ["read SELECT"] },                 // on: unterminated
        { @"select U&'\0041', 'a\'; delete from payments", ["read SELECT", "write DELETE w=payments"] },   // off rejects U&'…'
        // Both readings give the same tokens: the statements are the same, only a literal's value differs.
        { @"select 'a\\'; select 2", ["read SELECT", "read SELECT"] },
        { @"select 'a\b' from t", ["read SELECT r=t"] },
        { @"set search_path = 'a\b'", ["unknown SET"] },
        { @"select query_to_xml('select 1 \x3b delete from payments', true, false, '')", ["unknown SELECT"] },
        { @"select query_to_xml(E'select 1 \x3b delete from payments', true, false, '')", ["write SELECT w=payments f=query_to_xml c=DELETE"] },
        { @"select E'a\'; delete from payments; --'", ["read SELECT"] },
        { @"select $$a\$$; select 'b'", ["read SELECT", "read SELECT"] },
        { "select 1 -- \\'\n; select 2", ["read SELECT", "read SELECT"] },
        { @"select * from ""a\"" where x = 'y'", ["read SELECT r=a\\"] },
    };

    [Theory]
    [MemberData(nameof(Readings))]
    public void Backslashes_are_read_under_both_settings(string sql, string[] expected)
    {
        foreach (var scs in new[] { true, false })
        {
            var a = SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState { StandardConformingStrings = scs });
            Assert.Equal(expected, a.Statements.Select(Render.Facts));
        }
    }

    [Fact]
    public void Set_standard_conforming_strings_changes_nothing_in_the_analysis()
    {
        var session = new SqlSessionState();
        var a = SqlAnalyzer.Instance.Analyze(@"set standard_conforming_strings = off; select 'a\'; select 1", session);
        // The server lexes the whole string before the SET runs, with the setting the session has: only "on"
        // lexes this text, so that is how it runs, and the SET changes nothing the analyzer relies on.
        Assert.Equal(["session SET set[standard_conforming_strings=off]", "read SELECT", "read SELECT"], a.Statements.Select(Render.Facts));
        Assert.True(session.StandardConformingStrings);
        Assert.Equal("read SELECT f=set_config set[standard_conforming_strings=off]",
            Render.One("select set_config('standard_conforming_strings', 'off', false)"));
    }

    [Fact]
    public void Unicode_strings_are_read_as_with_standard_conforming_strings_on()
    {
        // With it off the server rejects U&'…' outright, so the only reading that runs is "on".
        var a = SqlAnalyzer.Instance.Analyze("select U&'x'", new SqlSessionState { StandardConformingStrings = false });
        Assert.Equal("read SELECT", Render.Facts(Assert.Single(a.Statements)));
    }

    [Fact]
    public void Spans_exclude_trivia_and_terminator()
    {
        var spans = SqlSplitter.Split("  /*c*/ select 1 ; \n select 2 -- t");
        Assert.Equal([new SqlStatementSpan(8, 8), new SqlStatementSpan(21, 8)], spans);
    }

    public static TheoryData<string, string> Obfuscated => new()
    {
        { "SeLeCt * FrOm Orders", "read SELECT r=orders" },
        { "select/**/*/**/from/* x */\"Orders\"", "read SELECT r=Orders" },
        { "select * from \"select\"", "read SELECT r=select" },
        { "\"select\" 1", "unknown" },
        { "select\t*\r\nfrom\fpublic . orders", "read SELECT r=public.orders" },
        { "select * from U&\"d\\0061t\\+000061\"", "read SELECT r=data" },
        { "select * from U&\"d!0061ta\" UESCAPE '!'", "read SELECT r=data" },
        { "select * from U&\"\\d800\"", "unknown SELECT" },
        { "delete/*x*/from--y\npayments", "write DELETE w=payments" },
        { "DELETE FROM \"Payments\" WHERE 1=1", "write DELETE w=Payments" },
        { "select * from PUBLIC.\"MixedCase\"", "read SELECT r=public.MixedCase" },
        { "select * from t where x = $$'; delete from payments; --$$", "read SELECT r=t" },
        { "select 1 as \"from\", 2 \"join\" from t", "read SELECT r=t" },
        { "select \"lower\"(x) from t", "read SELECT r=t f=lower" },
        { "sElEcT \"PG_TERMINATE_BACKEND\"(1)", "read SELECT f=PG_TERMINATE_BACKEND" },
        { "select PG_TERMINATE_BACKEND(1)", "admin SELECT f=pg_terminate_backend" },
        { "select * from aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeeeffffffffffgggggggggg", "read SELECT r=aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeeeffffffffffggg" },
        { "select * from t where a = 'x' 'y'", "read SELECT r=t" },
        { "select (1", "unknown SELECT" },
        { "select 1)", "unknown SELECT" },
        { "selec 1", "unknown" },
        { "drop foo bar", "unknown" },
        { "update", "unknown UPDATE" },
        { "select * from t where update = 1", "read SELECT r=t" },
        { "with x as (select 1)", "unknown" },
        { "select * from", "unknown SELECT" },
        { "select * from 'x'", "unknown SELECT" },
        { "select 1 into x from y into z", "unknown SELECT INTO" },
        { "select * from (select * into x from y) s", "unknown SELECT" },
        { "explain vacuum", "unknown EXPLAIN" },
        { "prepare p as vacuum", "unknown PREPARE +prepare:p c=VACUUM" },
        { "select $x", "unknown SELECT" },
        { "select * from (delete from t returning *) x", "unknown SELECT" },
        { "copy binary t from stdin", "unknown COPY" },
    };

    [Theory]
    [MemberData(nameof(Obfuscated))]
    public void Obfuscation_does_not_change_the_facts(string sql, string expected) => Assert.Equal(expected, Render.One(sql));

    [Fact]
    public void Statement_hidden_after_a_line_comment_is_found()
    {
        var a = SqlAnalyzer.Instance.Analyze("select 1 -- harmless;\r drop table payments", new SqlSessionState());
        // "\r" ends a line comment too: the server sees "select 1 drop table payments", a syntax error.
        Assert.Equal(StatementClass.Unknown, Assert.Single(a.Statements).Class);
        var b = SqlAnalyzer.Instance.Analyze("select 1; -- c\n drop table payments", new SqlSessionState());
        Assert.Equal(["read SELECT", "ddl DROP TABLE w=payments"], b.Statements.Select(Render.Facts));
    }
}
