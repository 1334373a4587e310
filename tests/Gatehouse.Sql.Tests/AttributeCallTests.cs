namespace Gatehouse.Sql.Tests;

/// <summary>
/// One-argument calls written as fields, (expr).f, q.f, t.c.f, which PostgreSQL runs as f(expr) when no such column
/// or field exists (a red team read raw values with ('select … from customers'::text).ts_stat and ran
/// (pg_backend_pid()).pg_terminate_backend past an admin-class deny rule).
/// </summary>
public sealed class AttributeCallTests
{
    private static StatementFacts One(string sql) => Assert.Single(SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements);

    [Theory]
    [InlineData("SELECT ('select email from customers'::text).ts_stat", "ts_stat")]
    [InlineData("SELECT (q).ts_stat FROM (SELECT 'select ssn from customers'::text AS q) s", "ts_stat")]
    [InlineData("SELECT t.q.ts_stat FROM queries t", "ts_stat")]
    [InlineData("SELECT (x).\"ts_stat\" FROM t", "ts_stat")]
    [InlineData("SELECT ('customers'::text).table_to_xml", "table_to_xml")]
    [InlineData("SELECT query_to_xml('select (''select 1''::text).ts_stat', true, false, '')", "ts_stat")]
    public void A_function_that_takes_sql_or_a_relation_as_text_is_refused_in_attribute_notation(string sql, string function)
    {
        var facts = One(sql);
        Assert.Equal(StatementClass.Unknown, facts.Class);
        Assert.Contains($"{function}() in attribute notation", facts.UnknownReason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SELECT (pg_backend_pid()).pg_terminate_backend", "admin SELECT f=pg_backend_pid,pg_terminate_backend")]
    [InlineData("SELECT pid.pg_terminate_backend FROM pg_stat_activity", "admin SELECT r=pg_stat_activity f=pg_terminate_backend")]
    [InlineData("SELECT a.pid.pg_cancel_backend FROM pg_stat_activity a", "admin SELECT r=pg_stat_activity f=pg_cancel_backend")]
    [InlineData("SELECT ('/etc/hostname'::text).pg_read_file", "admin SELECT f=pg_read_file")]
    [InlineData("SELECT ('/etc/hostname'::text).PG_READ_FILE", "admin SELECT f=pg_read_file")]
    [InlineData("SELECT (16385::oid).lo_get", "read SELECT f=lo_get")]
    [InlineData("SELECT (replace(ssn, '-', '')::bigint).pg_advisory_lock FROM customers", "read SELECT r=customers f=replace,pg_advisory_lock")]
    [InlineData("SELECT ((card_number::float8) / 1e12).setseed FROM customers", "read SELECT r=customers f=setseed")]
    [InlineData("SELECT (c.x).pg_sleep FROM c", "read SELECT r=c f=pg_sleep")]
    [InlineData("SELECT ('host=x'::text).dblink_connect", "read SELECT f=dblink_connect")]
    [InlineData("EXPLAIN ANALYZE SELECT (1).pg_terminate_backend", "admin EXPLAIN f=pg_terminate_backend")]
    public void A_built_in_that_changes_the_verdict_counts_as_called(string sql, string facts) => Assert.Equal(facts, Render.Facts(One(sql)));

    [Fact]
    public void Qualified_columns_are_possible_calls_but_not_calls()
    {
        var facts = One("SELECT c.email, (c.address).city, public.orders.total FROM customers c, orders ORDER BY c.name");
        Assert.Equal(StatementClass.Read, facts.Class);
        Assert.Empty(facts.Functions);
        Assert.Equal(["email", "address", "city", "orders", "total", "name"], facts.AttributeCalls.Select(f => f.Name));
    }

    [Fact]
    public void A_qualified_call_with_parentheses_is_a_call_and_no_attribute_call()
    {
        var facts = One("SELECT pg_catalog.lower(name) FROM customers");
        Assert.Equal(["pg_catalog.lower"], facts.Functions.Select(f => f.ToString()));
        Assert.Empty(facts.AttributeCalls);
    }
}
