namespace Gatehouse.Sql.Tests;

public sealed class SessionTests
{
    [Fact]
    public void Execute_is_judged_as_what_was_prepared()
    {
        var session = new SqlSessionState();
        var a = SqlAnalyzer.Instance.Analyze("PREPARE Del (int) AS DELETE FROM payments WHERE id = $1; EXECUTE del(1); EXECUTE other", session);
        Assert.Equal(["write PREPARE w=payments", "write EXECUTE w=payments", "unknown EXECUTE"], a.Statements.Select(Render.Facts));
        Assert.True(session.TryGetPrepared("del", out _));
        Assert.Equal("admin EXECUTE w=payments f=pg_cancel_backend", Render.One("execute del(pg_cancel_backend(1))", session));
        Assert.Equal("write EXPLAIN w=payments", Render.One("explain analyze execute del(1)", session));
        Assert.Equal("read EXPLAIN r=payments", Render.One("explain execute del(1)", session));
        Assert.Equal("session DEALLOCATE", Render.One("deallocate del", session));
        Assert.Equal("unknown EXECUTE", Render.One("execute del(1)", session));
    }

    [Fact]
    public void Existing_prepared_statement_is_not_replaced_because_the_server_refuses_to()
    {
        var session = new SqlSessionState();
        Render.One("prepare p as delete from t", session);
        Assert.Equal("read PREPARE", Render.One("prepare p as select 1", session));
        Assert.Equal("write EXECUTE w=t", Render.One("execute p", session));
        Render.One("discard all", session);
        Assert.False(session.TryGetPrepared("p", out _));
    }

    [Fact]
    public void Create_table_as_execute_uses_the_prepared_reads()
    {
        var session = new SqlSessionState();
        Render.One("prepare q as select * from secrets", session);
        Assert.Equal("ddl CREATE TABLE AS r=secrets w=copy", Render.One("create table copy as execute q", session));
    }

    [Fact]
    public void Deallocate_all_removes_every_entry()
    {
        var session = new SqlSessionState();
        session.RegisterPrepared("a", new StatementFacts { Start = 0, Length = 1, Command = "SELECT", Class = StatementClass.Read });
        Render.One("DEALLOCATE ALL", session);
        Assert.False(session.TryGetPrepared("a", out _));
    }
}
