namespace Gatehouse.Sql.Tests;

/// <summary>The analysis cache gives the same facts as the analyzer, and never carries one session's prepared
/// statements or cursors into another's.</summary>
public sealed class CachingSqlAnalyzerTests
{
    private static string Facts(SqlAnalysis analysis) => string.Join(" | ", analysis.Statements.Select(Render.Facts));

    [Theory]
    [InlineData("SELECT abalance FROM pgbench_accounts WHERE aid = $1")]
    [InlineData("select * from a join b using (id); delete from c where x = 1")]
    [InlineData("select query_to_xml('select * from secrets', true, true, '')")]
    [InlineData("set search_path = evil, public")]
    [InlineData("select 'a\\'; drop table t; --'")]
    [InlineData("not sql at all")]
    public void A_repeated_text_gets_the_same_facts_as_the_analyzer(string sql)
    {
        var cache = new CachingSqlAnalyzer(SqlAnalyzer.Instance);
        var expected = Facts(SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()));
        var first = cache.Analyze(sql, new SqlSessionState());
        var second = cache.Analyze(sql, new SqlSessionState());
        Assert.Equal(expected, Facts(first));
        Assert.Same(first, second);
        Assert.Equal(1, cache.Count);
    }

    [Theory]
    [InlineData("execute p(1)")]
    [InlineData("explain analyze execute p(1)")]
    [InlineData("select 1; execute p(1)")]
    [InlineData("select query_to_xml('execute p(1)', true, true, '')")]
    public void Execute_is_judged_by_each_session_s_own_prepared_statement(string sql)
    {
        var cache = new CachingSqlAnalyzer(SqlAnalyzer.Instance);
        var reader = new SqlSessionState();
        Render.Run("prepare p (int) as select * from accounts where id = $1", reader);
        var writer = new SqlSessionState();
        Render.Run("prepare p (int) as delete from accounts where id = $1", writer);
        var none = new SqlSessionState();

        // Each session in turn, twice over: the unknown answer for a session without p must not stick either.
        var answers = new List<string>();
        foreach (var session in new[] { none, reader, writer, none, reader, writer })
        {
            var facts = Facts(cache.Analyze(sql, session));
            Assert.Equal(Facts(SqlAnalyzer.Instance.Analyze(sql, session)), facts);
            answers.Add(facts);
        }

        Assert.Equal(3, answers.Distinct().Count());
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Fetch_is_judged_by_each_session_s_own_cursor()
    {
        var cache = new CachingSqlAnalyzer(SqlAnalyzer.Instance);
        var a = new SqlSessionState();
        Render.Run("declare c cursor for select * from public_info", a);
        var b = new SqlSessionState();
        Render.Run("declare c cursor for select * from salaries", b);
        Assert.Equal("read FETCH r=public_info", Facts(cache.Analyze("fetch c", a)));
        Assert.Equal("read FETCH r=salaries", Facts(cache.Analyze("fetch c", b)));
        Assert.Equal(StatementClass.Unknown, cache.Analyze("fetch c", new SqlSessionState()).Statements[0].Class);
        Assert.Equal(0, cache.Count);
    }

    [Theory]
    [InlineData("prepare p as select 1")]
    [InlineData("declare c cursor for select 1")]
    [InlineData("deallocate all")]
    [InlineData("discard all")]
    [InlineData("close c")]
    public void Statements_that_change_the_session_are_not_kept(string sql)
    {
        var cache = new CachingSqlAnalyzer(SqlAnalyzer.Instance);
        cache.Analyze(sql, new SqlSessionState());
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void It_stays_within_its_bounds()
    {
        var cache = new CachingSqlAnalyzer(SqlAnalyzer.Instance, capacity: 10, maxTextLength: 100);
        for (int i = 0; i < 95; i++)
        {
            cache.Analyze($"select {i} from t", new SqlSessionState());
            Assert.InRange(cache.Count, 0, 10);
        }

        var longText = "select " + new string('1', 100);
        Assert.Equal(Facts(SqlAnalyzer.Instance.Analyze(longText, new SqlSessionState())), Facts(cache.Analyze(longText, new SqlSessionState())));
        int before = cache.Count;
        cache.Analyze(longText, new SqlSessionState());
        Assert.Equal(before, cache.Count);
    }

    [Fact]
    public void Concurrent_sessions_get_correct_facts()
    {
        var cache = new CachingSqlAnalyzer(SqlAnalyzer.Instance, capacity: 8);
        var texts = Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? $"select * from t{i}" : $"delete from t{i}").ToArray();
        var expected = texts.Select(t => Facts(SqlAnalyzer.Instance.Analyze(t, new SqlSessionState()))).ToArray();
        Parallel.For(0, 4000, n =>
        {
            int i = n % texts.Length;
            Assert.Equal(expected[i], Facts(cache.Analyze(texts[i], new SqlSessionState())));
        });
    }
}
