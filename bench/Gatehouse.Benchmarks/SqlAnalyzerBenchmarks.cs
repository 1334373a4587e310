using System.Text;
using BenchmarkDotNet.Attributes;
using Gatehouse.Sql;

namespace Gatehouse.Benchmarks;

/// <summary>
/// Budgets (docs/sql-analyzer.md): a typical ~200-byte statement in ≤ 5 µs median with ≤ 1 KB allocated;
/// a 1 MB script at ≥ 50 MB/s.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class SqlAnalyzerBenchmarks
{
    /// <summary>A typical 200-byte application query.</summary>
    public const string Typical =
        "SELECT o.id, o.total, c.email FROM public.orders o JOIN customers c ON c.id = o.customer_id " +
        "WHERE o.created_at > now() - interval '7 days' AND o.status = 'paid' ORDER BY o.id DESC LIMIT 50 OFFSET 100";

    private readonly SqlSessionState _session = new();
    private string _script = "";

    public int ScriptBytes => _script.Length;


    [GlobalSetup]
    public void Setup()
    {
        var parts = new[]
        {
            Typical,
            "INSERT INTO audit_log (actor, action, at) VALUES ('svc', 'login; attempt', now())",
            "UPDATE accounts SET balance = balance - 10 WHERE id = 42 RETURNING balance",
            "/* report */ WITH x AS (SELECT customer_id, sum(total) s FROM orders GROUP BY 1) SELECT * FROM x WHERE s > $$1000$$",
            "-- housekeeping\nDELETE FROM sessions USING users WHERE sessions.user_id = users.id AND users.disabled",
        };
        var sb = new StringBuilder(1 << 20);
        for (var i = 0; sb.Length < 1 << 20; i++)
            sb.Append(parts[i % parts.Length]).Append(";\n");
        _script = sb.ToString();
    }

    [Benchmark]
    public int AnalyzeTypicalStatement() => SqlAnalyzer.Instance.Analyze(Typical, _session).Statements.Count;

    [Benchmark]
    public int SplitTypicalStatement() => SqlSplitter.Split(Typical).Count;

    [Benchmark]
    public int Analyze1MBScript() => SqlAnalyzer.Instance.Analyze(_script, _session).Statements.Count;

    [Benchmark]
    public int Split1MBScript() => SqlSplitter.Split(_script).Count;
}
