using System.Diagnostics;
using System.Text;

namespace Gatehouse.Sql.Tests;

/// <summary>Bounded property tests: arbitrary and mutated input never throws, never hangs, splits losslessly,
/// and costs time linear in its length.</summary>
public sealed class FuzzTests
{
    private static readonly string[] Seeds = CorpusTests.Queries.Concat(CorpusTests.Utility).Concat(CorpusTests.Ddl).Concat(CorpusTests.Bypasses)
        .Select(row => (string)row[0]).Concat(LexingTests.Splits.Select(row => (string)row[0])).ToArray();

    // GATEHOUSE_FUZZ_SECONDS / GATEHOUSE_FUZZ_SEED allow a longer local run; CI keeps the 2 s default.
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("GATEHOUSE_FUZZ_SECONDS"), out var s) ? s : 2);
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("GATEHOUSE_FUZZ_SEED"), out var v) ? v : 1234;

    private static readonly string[] Pieces =
        ["'", "''", "\"", "$$", "$a$", "$1", "E'", "U&'", "U&\"", " UESCAPE '!'", "\\", "/*", "*/", "--", "\n", "\r", ";", "(", ")",
         " select ", " from ", " with ", " begin atomic ", " end ", " case ", "::", ".", ",", "*", "\0", "\u00e9", "\ud800"];

    [Fact]
    public void Random_text_never_throws_and_splits_losslessly()
    {
        var rng = new Random(Seed);
        var budget = Stopwatch.StartNew();
        var sb = new StringBuilder();
        for (var n = 0; (n < 20_000 || Budget > TimeSpan.FromSeconds(2)) && budget.Elapsed < Budget; n++)
        {
            sb.Clear();
            var len = rng.Next(0, 80);
            for (var i = 0; i < len; i++)
            {
                if (rng.Next(3) == 0) sb.Append(Pieces[rng.Next(Pieces.Length)]);
                else sb.Append((char)(rng.Next(4) == 0 ? rng.Next(0, 0x3000) : rng.Next(32, 127)));
            }
            Check(sb.ToString(), rng.Next(2) == 0);
        }
    }

    [Fact]
    public void Mutated_sql_never_throws_and_splits_losslessly()
    {
        var rng = new Random(Seed + 1);
        var budget = Stopwatch.StartNew();
        for (var n = 0; (n < 20_000 || Budget > TimeSpan.FromSeconds(2)) && budget.Elapsed < Budget; n++)
        {
            var sb = new StringBuilder(Seeds[rng.Next(Seeds.Length)]);
            for (var m = rng.Next(1, 4); m > 0; m--)
            {
                var at = rng.Next(sb.Length + 1);
                switch (rng.Next(3))
                {
                    case 0: sb.Insert(at, Pieces[rng.Next(Pieces.Length)]); break;
                    case 1 when at < sb.Length: sb.Remove(at, Math.Min(rng.Next(1, 6), sb.Length - at)); break;
                    default: sb.Insert(at, Seeds[rng.Next(Seeds.Length)]); break;
                }
            }
            Check(sb.ToString(), true);
        }
    }

    private static void Check(string sql, bool scs)
    {
        var analysis = SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState { StandardConformingStrings = scs });
        // The analysis does not depend on the session's setting: it reads the text as one of the two settings
        // does (always "on" without a backslash), and where both readings lex but differ, every statement is unknown.
        var reading = true;
        var spans = SqlSplitter.Split(sql, reading);
        if (sql.Contains('\\', StringComparison.Ordinal) && !SameSpans(spans, analysis))
            spans = SqlSplitter.Split(sql, reading = false);
        Assert.Equal(spans.Count, analysis.Statements.Count);
        var conflicts = analysis.Statements.Count(f => f.UnknownReason?.Contains("standard_conforming_strings", StringComparison.Ordinal) == true);
        Assert.True(conflicts == 0 || conflicts == analysis.Statements.Count, $"partial conflict in {sql}");
        var rejoined = new StringBuilder();
        var pos = 0;
        for (var i = 0; i < spans.Count; i++)
        {
            var (start, length) = (spans[i].Start, spans[i].Length);
            Assert.True(start >= pos && length > 0 && start + length <= sql.Length, $"bad span in {sql}");
            Assert.Equal(start, analysis.Statements[i].Start);
            Assert.Equal(length, analysis.Statements[i].Length);
            var gap = sql[pos..start];
            Assert.Empty(SqlSplitter.Split(gap, reading));   // only whitespace, comments and ';' between statements
            var text = sql.Substring(start, length);
            Assert.Equal([new SqlStatementSpan(0, length)], SqlSplitter.Split(text, reading));
            rejoined.Append(gap).Append(text);
            pos = start + length;
        }
        Assert.Empty(SqlSplitter.Split(sql[pos..], reading));
        Assert.Equal(sql, rejoined.Append(sql[pos..]).ToString());
        foreach (var f in analysis.Statements)
            Assert.True(f.Class != StatementClass.Unknown || f.UnknownReason is not null);
    }

    private static bool SameSpans(IReadOnlyList<SqlStatementSpan> spans, SqlAnalysis analysis) =>
        spans.Count == analysis.Statements.Count
        && spans.Select((s, i) => s.Start == analysis.Statements[i].Start && s.Length == analysis.Statements[i].Length).All(b => b);
}

/// <summary>Runs alone (no parallel test classes), because it measures this process's CPU time.</summary>
[CollectionDefinition("timing", DisableParallelization = true)]
public sealed class TimingCollection;

[Collection("timing")]
public sealed class LinearTimeTests
{
    public static TheoryData<string, string> Adversarial => new()
    {
        { "nested parens", "select " },
        { "paren", "(" },
        { "many relations", "select * from a" },
        { "comments", "/* /* */" },
        { "dollar tags", "$a" },
        { "statements", "select 1;" },
        { "ctes", "with " },
        { "case", "select case when " },
        { "backslash literals", "select 'a\\b', " },
        { "sql text", "select query_to_xml('select * from t', true, false, ''), " },
        { "lock of", "select * from t0 a for update of " },
        { "settings", "set search_path = " },
    };

    [Theory]
    [MemberData(nameof(Adversarial))]
    public void Analysis_time_is_linear(string name, string pattern)
    {
        string Build(int n) => name switch
        {
            "nested parens" => pattern + new string('(', n) + "1" + new string(')', n),
            "many relations" => pattern + string.Concat(Enumerable.Range(0, n).Select(i => $", t{i}")),
            "dollar tags" => string.Concat(Enumerable.Range(0, n).Select(i => $"$a{i}$ ")),
            "ctes" => pattern + string.Concat(Enumerable.Range(0, n).Select(i => $"c{i} as (select * from c{i - 1}),")) + " x as (select 1) select * from x",
            "case" => "select " + string.Concat(Enumerable.Range(0, n).Select(_ => "case when a then ")) + "1" + string.Concat(Enumerable.Range(0, n).Select(_ => " end")),
            "backslash literals" or "sql text" => string.Concat(Enumerable.Repeat(pattern, n)) + "1",
            "lock of" => pattern + string.Join(", ", Enumerable.Repeat("a", n)),
            "settings" => pattern + string.Join(", ", Enumerable.Range(0, n).Select(i => $"'S{i}'")),
            _ => string.Concat(Enumerable.Repeat(pattern, n)),
        };
        double Time(string sql)
        {
            var best = double.MaxValue;
            for (var i = 0; i < 3; i++)
            {
                // Process CPU time: other work on a shared machine inflates it far less than wall-clock time.
                GC.Collect();
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState());
                best = Math.Min(best, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds);
            }
            return best;
        }
        var small = Build(5_000);
        var large = Build(40_000);
        Time(small);
        Time(large);
        var (ts, tl) = (Time(small), Time(large));
        Assert.True(tl < 30 * Math.Max(ts, 5), $"{name}: {small.Length} chars {ts:F2} ms, {large.Length} chars {tl:F2} ms");
        Assert.True(tl < 2_000, $"{name}: {tl:F0} ms");
    }
}
