namespace Gatehouse.Sql.Tests;

/// <summary>Prepared statements and cursors: the analyzer reports effects, the caller applies them
/// (<see cref="Render.Run"/> applies every statement's, as a caller does once they ran).</summary>
public sealed class SessionTests
{
    [Fact]
    public void Execute_is_judged_as_what_was_prepared()
    {
        var session = new SqlSessionState();
        Assert.Equal(["write PREPARE w=payments +prepare:del c=DELETE", "write EXECUTE w=payments c=DELETE", "unknown EXECUTE"],
            Render.Run("PREPARE Del (int) AS DELETE FROM payments WHERE id = $1; EXECUTE del(1); EXECUTE other", session));
        Assert.True(session.TryGetPrepared("del", out _));
        Assert.Equal("admin EXECUTE w=payments f=pg_cancel_backend c=DELETE", Render.One("execute del(pg_cancel_backend(1))", session));
        Assert.Equal("write EXPLAIN w=payments c=EXECUTE,DELETE", Render.One("explain analyze execute del(1)", session));
        Assert.Equal("read EXPLAIN r=payments", Render.One("explain execute del(1)", session));
        Assert.Equal(["session DEALLOCATE -prepare:del"], Render.Run("deallocate del", session));
        Assert.Equal("unknown EXECUTE", Render.One("execute del(1)", session));
    }

    [Fact]
    public void Analyze_leaves_the_session_untouched()
    {
        var session = new SqlSessionState { StandardConformingStrings = false };
        session.RegisterPrepared("kept", new StatementFacts { Start = 0, Length = 1, Command = "SELECT", Class = StatementClass.Read });
        var a = SqlAnalyzer.Instance.Analyze(
            "prepare p as delete from t; declare c cursor for select * from u; deallocate kept; discard all; set standard_conforming_strings = on", session);
        Assert.Equal(5, a.Statements.Count);
        Assert.False(session.StandardConformingStrings);
        Assert.Equal(1, session.PreparedCount);
        Assert.True(session.TryGetPrepared("kept", out _));
        Assert.Equal(0, session.CursorCount);
    }

    [Fact]
    public void Later_statements_of_a_string_see_earlier_effects()
    {
        var session = new SqlSessionState();
        session.RegisterPrepared("old", new StatementFacts { Start = 0, Length = 1, Command = "SELECT", Class = StatementClass.Read });
        Assert.Equal(
        [
            "write PREPARE w=t +prepare:p c=DELETE", "write EXECUTE w=t c=DELETE", "session DEALLOCATE -prepare:p", "unknown EXECUTE",
            "read EXECUTE", "session DEALLOCATE ALL -prepare:*", "unknown EXECUTE",
            "read DECLARE CURSOR r=u +cursor:c", "read FETCH r=u", "session CLOSE CURSOR -cursor:c", "unknown FETCH",
        ], SqlAnalyzer.Instance.Analyze(
            "prepare p as delete from t; execute p; deallocate p; execute p; execute old; deallocate all; execute old;"
            + "declare c cursor for select * from u; fetch c; close c; fetch c", session).Statements.Select(Render.Facts));
        Assert.True(session.TryGetPrepared("old", out _));
    }

    [Fact]
    public void A_prepare_that_ran_replaces_what_the_name_meant()
    {
        // A PREPARE that ran found the name free (the server refuses to redefine one), so an entry of that name
        // was stale; the caller applies only what ran, so a refused redefinition never reaches Apply.
        var session = new SqlSessionState();
        Render.Run("prepare p as delete from t", session);
        var refused = SqlAnalyzer.Instance.Analyze("prepare p as select 1", session).Statements[0];
        Assert.Equal("read PREPARE +prepare:p", Render.Facts(refused));
        Assert.Equal("write EXECUTE w=t c=DELETE", Render.One("execute p", session));
        session.Apply(refused);
        Assert.Equal("read EXECUTE", Render.One("execute p", session));
        Render.Run("discard all", session);
        Assert.False(session.TryGetPrepared("p", out _));
    }

    [Fact]
    public void Create_table_as_execute_uses_the_prepared_reads()
    {
        var session = new SqlSessionState();
        Render.Run("prepare q as select * from secrets", session);
        Assert.Equal("ddl CREATE TABLE AS r=secrets w=copy c=EXECUTE", Render.One("create table copy as execute q", session));
    }

    [Fact]
    public void Deallocate_all_removes_every_entry()
    {
        var session = new SqlSessionState();
        session.RegisterPrepared("a", new StatementFacts { Start = 0, Length = 1, Command = "SELECT", Class = StatementClass.Read });
        Render.Run("DEALLOCATE ALL", session);
        Assert.False(session.TryGetPrepared("a", out _));
    }

    [Fact]
    public void Sql_execute_of_a_protocol_level_prepared_statement_uses_what_the_caller_registered()
    {
        var session = new SqlSessionState();
        var parsed = SqlAnalyzer.Instance.Analyze("delete from payments where id = $1", session).Statements[0];
        session.RegisterPrepared("s1", parsed);       // Parse "s1": the caller registers it
        session.RegisterPrepared("S2", parsed);       // protocol names are exact; SQL folds unquoted names
        Assert.Equal("write EXECUTE w=payments c=DELETE", Render.One("EXECUTE s1(7)", session));
        Assert.Equal("write EXECUTE w=payments c=DELETE", Render.One("EXECUTE S1 (7)", session));
        Assert.Equal("unknown EXECUTE", Render.One("EXECUTE S2(7)", session));
        Assert.Equal("write EXECUTE w=payments c=DELETE", Render.One("EXECUTE \"S2\"(7)", session));
    }

    [Fact]
    public void Names_made_before_hidden_code_ran_are_not_known_until_made_again()
    {
        // A DO block or user function can DEALLOCATE and PREPARE, or CLOSE and OPEN, under any name.
        var session = new SqlSessionState();
        Render.Run("PREPARE del AS DELETE FROM payments; DECLARE c CURSOR FOR SELECT * FROM payments", session);
        long sentBefore = session.HiddenCodeRuns;
        session.HiddenCodeSent();
        Assert.Equal("unknown EXECUTE", Render.One("EXECUTE del", session));
        Assert.Equal("unknown FETCH", Render.One("FETCH 1 FROM c", session));
        Assert.True(session.MaybeRedefined("del", cursor: false));
        Assert.True(session.MaybeRedefined("c", cursor: true));
        var facts = SqlAnalyzer.Instance.Analyze("EXECUTE del", session).Statements[0];
        Assert.Contains("may have been redefined by code Gatehouse does not read", facts.UnknownReason, StringComparison.Ordinal);

        // A statement sent before the code but answered after it is not known either; one sent after it is.
        var select = SqlAnalyzer.Instance.Analyze("select 1", session).Statements[0];
        session.RegisterPrepared("late", select, sentAfter: sentBefore);
        Assert.False(session.TryGetPrepared("late", out _));
        session.RegisterPrepared("fresh", select, sentAfter: session.HiddenCodeRuns);
        Assert.True(session.TryGetPrepared("fresh", out _));
        Render.Run("DEALLOCATE del; PREPARE del AS SELECT 1", session);
        Assert.Equal("read EXECUTE", Render.One("EXECUTE del", session));
        Assert.False(session.MaybeRedefined("nothing", cursor: false));
    }

    [Fact]
    public void Cursors_carry_their_query_facts_across_query_strings()
    {
        // psql with FETCH_COUNT: one query string per statement; the caller applies effects in between.
        var session = new SqlSessionState();
        Assert.Equal(["transaction BEGIN"], Render.Run("BEGIN", session));
        Assert.Equal(["read DECLARE CURSOR r=payments +cursor:_psql_cursor"],
            Render.Run("DECLARE _psql_cursor NO SCROLL CURSOR FOR select * from payments", session));
        Assert.Equal(["read FETCH r=payments"], Render.Run("FETCH FORWARD 100 FROM _psql_cursor", session));
        Assert.Equal(["read MOVE r=payments"], Render.Run("MOVE BACKWARD ALL IN _psql_cursor", session));
        Assert.Equal(["read SELECT r=payments f=cursor_to_xml"], Render.Run("select cursor_to_xml('_psql_cursor', 10, true, false, '')", session));
        Assert.Equal(["session CLOSE CURSOR -cursor:_psql_cursor"], Render.Run("CLOSE _psql_cursor", session));
        Assert.Equal(["unknown FETCH"], Render.Run("FETCH FORWARD 100 FROM _psql_cursor", session));
        Assert.Equal(0, session.CursorCount);
    }

    [Fact]
    public void A_cursor_runs_its_query_when_fetched()
    {
        var session = new SqlSessionState();
        Render.Run("begin; declare k cursor for select pg_terminate_backend(pid) from pg_stat_activity;"
            + "declare l cursor for select * from orders o join payments p on true for update of o", session);
        Assert.Equal("admin FETCH r=pg_stat_activity f=pg_terminate_backend", Render.One("fetch 1 from k", session));
        Assert.Equal("write FETCH r=payments w=orders lock", Render.One("fetch next in l", session));
        Assert.Equal("unknown SELECT", Render.One("select cursor_to_xml('K', 1, true, false, '')", session));   // refcursor names are exact
        Assert.Equal("unknown SELECT", Render.One("select cursor_to_xml(name, 1, true, false, '') from pg_cursors", session));
        Assert.Equal(["session CLOSE CURSOR ALL -cursor:*"], Render.Run("close all", session));
        Assert.Equal("unknown FETCH", Render.One("fetch 1 from k", session));
    }

    [Fact]
    public void Discard_all_forgets_prepared_statements_and_cursors()
    {
        var session = new SqlSessionState();
        Render.Run("prepare p as select 1; begin; declare c cursor for select 1", session);
        Assert.Equal((1, 1), (session.PreparedCount, session.CursorCount));
        Render.Run("commit; discard all", session);
        Assert.Equal((0, 0), (session.PreparedCount, session.CursorCount));
    }

    [Fact]
    public void Pooled_connection_reset_is_session_and_read()
    {
        // What Npgsql sends when it returns a connection to its pool.
        var a = SqlAnalyzer.Instance.Analyze(
            "SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;SELECT pg_advisory_unlock_all();DISCARD SEQUENCES;DISCARD TEMP",
            new SqlSessionState());
        Assert.Equal(
        [
            "session SET set[session_authorization:default]", "session RESET set[all:default]", "session CLOSE CURSOR ALL -cursor:*",
            "session UNLISTEN", "read SELECT f=pg_advisory_unlock_all", "session DISCARD SEQUENCES", "session DISCARD TEMP",
        ], a.Statements.Select(Render.Facts));
    }
}
