using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace Gatehouse.Sql.Tests;

/// <summary>
/// Differential red-team fuzz against a real PostgreSQL 15. Every generated text hides the sentinel statement
/// <c>DELETE FROM sentinel WHERE id = 1</c> where a mis-lexing analyzer would think it sits inside a literal, a comment
/// or an identifier, or behind an EXPLAIN option spelling. Each text is analyzed once (analysis must not depend on
/// standard_conforming_strings) and run as one simple-query batch under both server settings. The property, per run:
/// the analyzer refuses the text (some statement is Unknown), or
/// <list type="bullet">
/// <item>the server ran exactly the statements the analyzer saw, with the commands it named (when the server fails
/// part-way, the statements it ran are a strict prefix of the analyzer's), and</item>
/// <item>if the sentinel row is gone afterwards, the analyzer reported the statement that deleted it as a write of
/// sentinel, never as a read.</item>
/// </list>
/// </summary>
/// <remarks>The server parses the whole batch before it runs any of it, so a lexing error anywhere means nothing
/// ran, and a SET standard_conforming_strings inside the batch changes nothing about how that batch is lexed.</remarks>
public sealed class RedTeamFuzzTests(DifferentialTests.TrustServer fixture, ITestOutputHelper output) : IClassFixture<DifferentialTests.TrustServer>
{
    // GATEHOUSE_FUZZ_SECONDS / GATEHOUSE_FUZZ_SEED allow a longer or different local run, as in FuzzTests.
    private static readonly int? LongRunSeconds = int.TryParse(Environment.GetEnvironmentVariable("GATEHOUSE_FUZZ_SECONDS"), out var s) ? s : null;
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("GATEHOUSE_FUZZ_SEED"), out var v) ? v : 20_250_611;

    private const string SentinelDelete = "DELETE FROM sentinel WHERE id = 1";

    private readonly RawPgClient _client = fixture.Client;

    [Fact]
    public Task Hidden_sentinel_delete_runs_only_where_the_analyzer_saw_it() =>
        FuzzAsync(Seed, cases: 1500, TimeSpan.FromSeconds(LongRunSeconds ?? 6), g => g.Hidden());

    [Fact]
    public Task Explain_that_deletes_is_never_a_read() =>
        FuzzAsync(Seed + 1, cases: 500, TimeSpan.FromSeconds(LongRunSeconds ?? 3), g => ("explain", g.Explain()));

    /// <summary>Texts the generators found, kept so that they stay fixed whatever the seed.</summary>
    public static TheoryData<string> Found => new()
    {
        // A continuation keeps the first part's kind: '\'' after E'a' and a newline is E-escaped (\' then ').
        "SELECT E'a'\n'\\''; " + SentinelDelete + "; -- '",
        "SELECT e'\\''\n\n'\\'; WITH d AS (" + SentinelDelete + " RETURNING id) SELECT * FROM d; -- '\n; SELECT '\\'",
        "sELeCt E'a' --c\n'''\\''; DElEte\r\nFROM --;'\n\"public\".\"sentinel\" WHERE --;'\nid = 1/**/; /* ; ' \" $$ */ ",
        // The same, where U&'…' makes the "off" reading fail to lex, so only the (wrong) "on" reading is left.
        "SELECT U&'x', E'a'\n'\\''; " + SentinelDelete + "; -- '",
        // EXPLAIN option spellings the server reads as ANALYZE on.
        "EXPLAIN (\"analyze\" \"on\") " + SentinelDelete,
        "EXPLAIN (U&\"!0061nalyze\" UESCAPE '!' --c\n true) " + SentinelDelete,
        "EXPLAIN (ANALYZE $q$true$q$) " + SentinelDelete,
        "EXPLAIN (ANALYZE 'o'\n'n', COSTS off) " + SentinelDelete,
        "EXPLAIN (ANALYZE E'\\x6fn') " + SentinelDelete,
        "EXPLAIN (Analyze 001) " + SentinelDelete,
        "EXPLAIN (analyze +1) " + SentinelDelete,
        "PREPARE p AS " + SentinelDelete + "; EXPLAIN (U&\"\\0061nalyze\" E'true', TIMING off) EXECUTE p; DEALLOCATE p",
    };

    [Theory]
    [MemberData(nameof(Found))]
    public async Task Found_texts_hold_the_property(string sql)
    {
        await EnsureSentinelAsync();
        var facts = Analyze(sql);
        foreach (var scs in (bool[])[true, false])
        {
            var run = await RunAsync(sql, scs);
            if (Judge(facts, run) is { } verdict)
            {
                Assert.Fail($"server standard_conforming_strings={(scs ? "on" : "off")}: {verdict.Kind}: {verdict.Text}\n"
                    + $"  analyzer: {Show(sql, facts)}\n  server:   {string.Join(" | ", run.Results)}");
            }
        }
    }

    /// <summary>The harness itself: a wrong analysis is caught, a right one is not blamed for the server's errors.</summary>
    [Fact]
    public async Task Harness_flags_wrong_analyses_and_only_those()
    {
        await EnsureSentinelAsync();
        var hidden = "SELECT 'a\\'; " + SentinelDelete + "; -- '";

        // Under standard_conforming_strings = on the server runs the DELETE; an analysis that saw one SELECT is wrong twice.
        var on = await RunAsync(hidden, scs: true);
        Assert.True(on.Deleted);
        Assert.Equal(["SELECT 1", "DELETE 1"], on.Results);
        var missed = Judge(Analyze("SELECT 'a'"), on);
        Assert.Equal(UnreportedDelete, missed?.Kind);
        Assert.Contains("server ran 2", missed!.Text, StringComparison.Ordinal);
        Assert.Equal(UnreportedDelete, Judge(Analyze("SELECT 'a'; SELECT 1"), on)?.Kind);

        // Under off the server runs one SELECT and deletes nothing: that one-SELECT analysis is right for it.
        var off = await RunAsync(hidden, scs: false);
        Assert.False(off.Deleted);
        Assert.Equal(["SELECT 1"], off.Results);
        Assert.Null(Judge(Analyze("SELECT 'a'"), off));
        Assert.Equal("server ran fewer", Judge(Analyze("SELECT 'a'; " + SentinelDelete), off)?.Kind);

        // EXPLAIN ANALYZE deletes; an analysis that calls it a plain (read) EXPLAIN is caught.
        var explain = await RunAsync("EXPLAIN (ANALYZE) " + SentinelDelete, scs: true);
        Assert.True(explain.Deleted);
        var read = Judge(Analyze("EXPLAIN " + SentinelDelete), explain);
        Assert.Equal(UnreportedDelete, read?.Kind);
        Assert.Contains("read EXPLAIN", read!.Text, StringComparison.Ordinal);

        // A run-time error stops the batch (and rolls the DELETE back): the statements that ran are a prefix, no blame.
        var failing = "SELECT 1; " + SentinelDelete + "; SELECT 1/0; SELECT 2";
        var partial = await RunAsync(failing, scs: true);
        Assert.False(partial.Deleted);
        Assert.Equal(3, partial.Results.Count);
        Assert.Null(Judge(Analyze(failing), partial));
        Assert.Equal("server ran more", Judge(Analyze("SELECT 1; " + SentinelDelete), partial)?.Kind);

        // A lexing error anywhere: nothing ran, whatever the analysis.
        var unterminated = await RunAsync(SentinelDelete + "; SELECT 'x", scs: true);
        Assert.False(unterminated.Deleted);
        Assert.Single(unterminated.Results);
        Assert.Null(Judge(Analyze("SELECT 1"), unterminated));

        // Refusal (an Unknown statement) satisfies the property whatever the server did.
        Assert.Null(Judge([.. Analyze("SELECT 1"), .. Analyze("$")], on));
    }

    private async Task FuzzAsync(int seed, int cases, TimeSpan budget, Func<Generator, (string Family, string Sql)> next)
    {
        await EnsureSentinelAsync();
        var generator = new Generator(new Random(seed));
        var stats = new SortedDictionary<string, FamilyStats>(StringComparer.Ordinal);
        var failures = new List<(string Family, string Kind, string Text)>();
        var clock = Stopwatch.StartNew();
        var n = 0;
        for (; (n < cases || LongRunSeconds is not null) && clock.Elapsed < budget; n++)
        {
            var (family, sql) = next(generator);
            var st = stats.TryGetValue(family, out var found) ? found : stats[family] = new FamilyStats();
            st.Cases++;
            IReadOnlyList<StatementFacts> facts;
            try
            {
                facts = Analyze(sql);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                st.Failures++;
                failures.Add((family, "threw", $"[{family}] case {n}: the analyzer threw {ex.GetType().Name}: {ex.Message}\n  text: {Literal(sql)}"));
                continue;
            }
            if (facts.Any(f => f.Class == StatementClass.Unknown))
                st.Refused++;
            foreach (var scs in (bool[])[true, false])
            {
                var run = await RunAsync(sql, scs);
                if (run.Results.Any(r => r != "EMPTY" && !r.StartsWith("ERROR", StringComparison.Ordinal)))
                    st.Ran++;
                if (run.Deleted)
                    st.Deleted++;
                if (Judge(facts, run) is { } verdict)
                {
                    st.Failures++;
                    st.Unreported += verdict.Kind == UnreportedDelete ? 1 : 0;
                    failures.Add((family, verdict.Kind, $"[{family}] case {n}, server standard_conforming_strings={(scs ? "on" : "off")}: "
                        + $"{verdict.Kind}: {verdict.Text}\n"
                        + $"  text:     {Literal(sql)}\n  analyzer: {Show(sql, facts)}\n  server:   {string.Join(" | ", run.Results)}"));
                }
            }
        }
        var summary = new StringBuilder()
            .AppendLine($"seed {seed} (GATEHOUSE_FUZZ_SEED), {n} texts × 2 server settings in {clock.Elapsed.TotalSeconds:F1} s")
            .AppendLine("family        texts  refused  runs-that-ran  deleted  failures  unreported-DELETE");
        foreach (var (family, st) in stats)
            summary.AppendLine($"{family,-12} {st.Cases,6} {st.Refused,8} {st.Ran,14} {st.Deleted,8} {st.Failures,9} {st.Unreported,18}");
        output.WriteLine(summary.ToString());
        if (failures.Count == 0)
            return;
        // The first failure of each family and kind, then the next ones, up to a readable number.
        var shown = failures.DistinctBy(f => (f.Family, f.Kind)).Concat(failures).Distinct().Take(12).Select(f => f.Text);
        Assert.Fail($"{failures.Count} failing runs; {summary}\n{string.Join("\n\n", shown)}");
    }

    private static IReadOnlyList<StatementFacts> Analyze(string sql) => SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements;

    /// <summary>What the server did with one batch: one result per statement it ran (tags, EMPTY, a final ERROR),
    /// and whether the sentinel row was gone afterwards.</summary>
    private sealed record ServerRun(IReadOnlyList<string> Results, bool Deleted);

    /// <summary>A failed run: its kind (for the summary) and what is wrong, for a person to read.</summary>
    private sealed record Verdict(string Kind, string Text);

    private const string UnreportedDelete = "unreported DELETE";

    /// <summary>Null when the property holds for this run.</summary>
    private static Verdict? Judge(IReadOnlyList<StatementFacts> facts, ServerRun run)
    {
        if (facts.Any(f => f.Class == StatementClass.Unknown))
            return null;   // refused: Gatehouse never sends the text
        var results = run.Results;
        var failed = results.Count > 0 && results[^1].StartsWith("ERROR", StringComparison.Ordinal);
        var ran = results is ["EMPTY"] ? 0 : failed ? results.Count - 1 : results.Count;
        Verdict? mismatch = null;
        if (!failed && ran != facts.Count)
            mismatch = new(ran > facts.Count ? "server ran more" : "server ran fewer", $"the server ran {ran} statements, the analyzer saw {facts.Count}");
        else if (failed && ran > 0 && ran >= facts.Count)
            mismatch = new("server ran more", $"the server ran {ran} statements and failed in one more, the analyzer saw {facts.Count}");
        for (var i = 0; i < ran && mismatch is null; i++)
        {
            if (!SameCommand(facts[i].Command, Tag(results[i])))
                mismatch = new("other command", $"statement {i}: the server ran {Tag(results[i])}, the analyzer saw {facts[i].Command}");
        }
        var unreported = run.Deleted ? Unreported(facts, results, ran, aligned: mismatch is null) : null;
        if (unreported is not null)
            return new(UnreportedDelete, mismatch is null ? unreported : $"{unreported}; {mismatch.Text}");
        return mismatch;
    }

    /// <summary>Null when the statement that deleted the sentinel row was reported as a write of sentinel. With
    /// boundaries that match, that is the statement tagged DELETE 1 (an EXECUTE of one too) or the EXPLAIN ANALYZE.</summary>
    private static string? Unreported(IReadOnlyList<StatementFacts> facts, IReadOnlyList<string> results, int ran, bool aligned)
    {
        for (var i = 0; aligned && i < ran; i++)
        {
            if (results[i] is "DELETE 1" or "EXPLAIN")
                return WritesSentinel(facts[i]) ? null : $"statement {i} ({results[i]}) deleted the sentinel row, the analyzer says {Render.Facts(facts[i])}";
        }
        return facts.Any(WritesSentinel) ? null : "the sentinel row was deleted, no statement was reported as writing sentinel";
    }

    private static bool WritesSentinel(StatementFacts f) =>
        f.Class == StatementClass.Write
        && (f.WritesUnlistedRelations || f.WrittenRelations.Any(r => r.Name == "sentinel" && r.Schema is null or "public"));

    private static string Tag(string result) =>
        string.Join(' ', result.Split(' ').TakeWhile(w => w.Length > 0 && !char.IsAsciiDigit(w[0])));

    private static bool SameCommand(string command, string tag) => command switch
    {
        "SELECT INTO" or "CREATE TABLE AS" or "CREATE MATERIALIZED VIEW" => tag == "SELECT",
        "EXECUTE" => tag is "SELECT" or "INSERT" or "UPDATE" or "DELETE" or "MERGE",
        _ => tag == command,
    };

    private async Task EnsureSentinelAsync()
    {
        var setup = await _client.QueryAsync(
            "CREATE TABLE IF NOT EXISTS sentinel (id int PRIMARY KEY); INSERT INTO sentinel VALUES (1) ON CONFLICT DO NOTHING");
        Assert.DoesNotContain(setup, r => r.StartsWith("ERROR", StringComparison.Ordinal));
    }

    /// <summary>Runs <paramref name="sql"/> as one simple query under the given standard_conforming_strings (set on the
    /// connection first, outside the text), then observes and restores the sentinel row and the session.</summary>
    private async Task<ServerRun> RunAsync(string sql, bool scs)
    {
        await ExpectOkAsync($"SET standard_conforming_strings = {(scs ? "on" : "off")}");
        var results = await _client.QueryAsync(sql);
        // Inside a transaction the text left open, the probe still sees its DELETE; an aborted one can never commit it.
        var probe = await _client.QueryAsync("SELECT 1 FROM sentinel WHERE id = 1");
        await ExpectOkAsync("ROLLBACK; RESET ALL; DEALLOCATE ALL; CLOSE ALL; INSERT INTO sentinel VALUES (1) ON CONFLICT DO NOTHING");
        return new ServerRun(results, probe is ["SELECT 0"]);
    }

    private async Task ExpectOkAsync(string sql)
    {
        var results = await _client.QueryAsync(sql);
        if (results.Any(r => r.StartsWith("ERROR", StringComparison.Ordinal)))
            throw new InvalidOperationException($"harness statement failed: {sql} → {string.Join(" | ", results)}");
    }

    private static string Show(string sql, IReadOnlyList<StatementFacts> facts) => facts.Count == 0 ? "(no statements)"
        : string.Join(" | ", facts.Select(f => $"{Literal(sql.Substring(f.Start, f.Length))} → {Render.Facts(f)}"
            + (f.UnknownReason is { } why ? $" ({why})" : "")));

    /// <summary>The text as a C# string literal, so control characters show and a failure pastes into a test.</summary>
    private static string Literal(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in text)
        {
            sb.Append(c switch
            {
                '\\' => "\\\\",
                '"' => "\\\"",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\f' => "\\f",
                '\v' => "\\v",
                _ when c < ' ' || char.IsSurrogate(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return sb.Append('"').ToString();
    }

    private sealed class FamilyStats
    {
        public int Cases;
        public int Refused;
        public int Ran;
        public int Deleted;
        public int Failures;
        public int Unreported;
    }

    /// <summary>
    /// Texts built from the lexical corners of scan.l: backslashes before quotes under either string mode, quote
    /// continuation across newlines (which keeps the first part's E/B/X/U&amp; kind), U&amp; escapes and UESCAPE,
    /// dollar quotes with near-miss tags, nested block comments, "--" and "/*" inside operators, doubled quotes in
    /// identifiers; the sentinel DELETE is itself spelled in varied but equivalent ways.
    /// </summary>
    private sealed class Generator(Random rng)
    {
        private string Pick(params string[] options) => options[rng.Next(options.Length)];

        private bool Chance(int percent) => rng.Next(100) < percent;

        private string K(string word) => Chance(60) ? word.ToUpperInvariant()
            : string.Concat(word.Select(c => Chance(50) ? char.ToUpperInvariant(c) : c));

        /// <summary>Whitespace or comments between two tokens.</summary>
        private string W() => Chance(65) ? " "
            : Pick("\n", "\t", "  ", "/**/", " /* ; ' \" $$ */ ", " /* /* ; */ */ ", " --;'\n", "\r\n", "\f", " -- */\r");

        private string Table() => Pick(
            "sentinel", "SENTINEL", "Sentinel", "\"sentinel\"", "public.sentinel", "\"public\".\"sentinel\"", "PUBLIC . Sentinel",
            "public/**/./**/sentinel", "U&\"sentin\\0065l\"", "U&\"sentin!0065l\" UESCAPE '!'", "u&\"\\+000073entinel\"",
            "U&\"sentin\\0065l\" uescape '\\'", "ONLY sentinel", "sentinel *", "\"sent\"\"inel\"", "U&\"SENTINEL\"");

        private string IdTest() => Pick(
            "id = 1", "id=1", "id = '1'", "id = $$1$$", "id IN (1)", "id = 1::int", "id = E'1'", "id = 01", "id = +1", "1 = id",
            "id = 1 --x\n", "id = 1/**/", "(id) = (1)", "id = '1'::int", "id BETWEEN 1 AND 1", "id = $q$1$q$", "id = U&'\\0031'");

        /// <summary>DELETE of sentinel row 1, with keyword case, trivia, the table's name and the id test spelled in
        /// varied but equivalent ways (quoted, qualified, U&amp;"…" with or without UESCAPE, ONLY, *).</summary>
        private string PlainDelete() =>
            $"{K("delete")}{W()}{K("from")}{W()}{Table()}{Pick("", "", " s", " AS s")}{W()}{K("where")}{W()}{IdTest()}";

        /// <summary>The sentinel DELETE, sometimes inside a data-modifying WITH.</summary>
        public string Delete() => Chance(85) ? PlainDelete()
            : $"{K("with")} d {K("as")} ({PlainDelete()} {K("returning")} id){W()}{K("select")} * {K("from")} d";

        /// <summary>What the hidden families hide: the DELETE, or a statement that runs it (COPY of its RETURNING,
        /// a prepared statement executed, EXPLAIN ANALYZE).</summary>
        private string Sentinel() => rng.Next(20) switch
        {
            0 or 1 => $"{K("copy")} ({PlainDelete()} {K("returning")} id) {K("to")} {K("stdout")}",
            2 or 3 => $"{K("prepare")} q {K("as")} {Delete()};{W()}{K("execute")} q",
            4 => $"{K("explain")} {K("analyze")} {Delete()}",
            _ => Delete(),
        };

        public (string Family, string Sql) Hidden()
        {
            var (family, sql) = rng.Next(9) switch
            {
                0 => ("backslash", Backslash()),
                1 => ("continuation", Continuation()),
                2 => ("dollar", Dollar()),
                3 => ("comment", Comment()),
                4 => ("identifier", Identifier()),
                5 => ("uescape", Uescape()),
                6 => ("operator", Operator()),
                7 => ("soup", Soup()),
                _ => ("backslash", Backslash()),
            };
            // Fillers; U&'…' and a lone '\' each make one standard_conforming_strings reading fail to lex.
            if (Chance(20))
                sql = Pick("SELECT 1;", "VALUES (1);", "SELECT ';';", "SELECT $$;$$;", "SELECT '\\';", "SELECT U&'\\0041';") + W() + sql;
            if (Chance(10))
            {
                sql = Pick("SET standard_conforming_strings = off;", "SET standard_conforming_strings TO 'on';",
                    "RESET standard_conforming_strings;", "set standard_conforming_strings=false;") + W() + sql;
            }
            if (Chance(12))
                sql += "\n;" + Pick(" SELECT 2", " VALUES (2)", " SELECT '\\'");
            return (family, sql);
        }

        private string Backslash()
        {
            var prefix = Pick("", "", "E", "e", "N", "n", "U&", "u&", "B", "X", "text", "TEXT E", "xe", "ne");
            var junk = Pick("", "a", "x''y", "\\\\", "\\x27", "\\047", "\\u0027", "''", "\u00e9");
            var slash = Pick("\\", "\\\\", "\\\\\\", "\\'", "\\''", "''\\", "'\\");
            var tail = Pick("", "", " AS x", "::text", "\n'x'", " || 'y'");
            var closer = Pick("-- '", "--'", "SELECT '", "SELECT 'x", "/* ' */", "'", "SELECT $$'$$", "", "SELECT E'\\''");
            return $"{K("select")}{W()}{prefix}'{junk}{slash}'{tail};{W()}{Sentinel()};{W()}{closer}";
        }

        /// <summary>'a' newline 'b' is one literal, and the continuation keeps the first part's kind (E'…' escapes).</summary>
        private string Continuation()
        {
            var prefix = Pick("E", "e", "", "N", "U&", "B", "X");
            var first = prefix is "B" or "X" ? Pick("0", "01", "") : Pick("a", "", "\\\\", "\\'");
            var join = Pick("\n", " \n", "\r", "\r\n", "\n\n", " --c\n", "\n--c\n", "\t\f\n ", " /*c*/\n", " ", "--c\r");
            var body = Pick("\\'", "\\''", "\\\\'", "x\\", "''\\'", "1\\", "\\", "0");
            var closer = Pick("-- '", "--'", "SELECT '", "'", "");
            // A U&'…' before it leaves the analyzer only the standard_conforming_strings = on reading.
            var other = Pick("", "", "U&'x', ", "'\\', ");
            return $"{K("select")} {other}{prefix}'{first}'{join}'{body}';{W()}{Sentinel()};{W()}{closer}";
        }

        private string Tag() => Pick("", "a", "A", "a1", "_", "\u00e9", "tag", "b");

        /// <summary>Something that looks like, or nearly like, the closing <c>$tag$</c>: other case, longer, unclosed,
        /// inside an identifier, a parameter.</summary>
        private string NearTag(string tag) => Pick(
            $"${tag.ToUpperInvariant()}$", $"${tag.ToUpperInvariant()}$", $"${tag}1$", $"${tag}", $"{tag}$", $"x${tag}$", $"$ {tag}$", $"${tag} $", "$$", $"$${tag}$",
            $"${tag}$", "$a$", "$b$", "$1", "$1$", "$\u00e9$", " ", "'", "\\");

        /// <summary>Hides the rest of the text from a lexer that ended a literal or comment earlier than the server
        /// (or later), so that it still sees statements it knows instead of refusing garbage.</summary>
        private string Guard() => Pick("", "-- ", "--", "SELECT 3 -- ", "\n-- ");

        private string Dollar()
        {
            var tag = Tag();
            var open = $"${tag}$";
            var close = Chance(80) ? open : $"${Tag()}$";
            var body = string.Concat(Enumerable.Range(0, rng.Next(1, 3)).Select(_ => NearTag(tag)));
            // Closed before the DELETE (which runs), or open around it (which is then hidden).
            if (Chance(50))
                return $"{K("select")}{W()}{open}{body}{close};{W()}{Sentinel()}{Pick("", ";", "; SELECT 2", $"; -- {open}", $"; SELECT 1 AS x{open}")}";
            return $"{K("select")}{W()}{open}{body};{W()}{Sentinel()};{W()}{Guard()}{close}{Pick("", " AS y")}";
        }

        private string Comment()
        {
            // The server's nesting depth after each opener; the zero-depth ones are closed already.
            var (open, depth) = rng.Next(15) switch
            {
                0 => ("/*", 1),
                1 => ("/* /*", 2),
                2 => ("/*/", 1),
                3 => ("/**", 1),
                4 => ("/* */ /*", 1),
                5 => ("/*/**/", 1),
                6 => ("/* /* */", 1),
                7 => ("/*/*", 2),
                8 => ("/* -- */ /*", 1),
                9 => ("/*'", 1),
                10 => ("/*\"", 1),
                11 => ("/*$$", 1),
                12 => ("/**/", 0),
                13 => ("/*/**/*/", 0),
                _ => ("/* /* */ */", 0),
            };
            if (Chance(15))
                depth += Chance(50) ? 1 : -1;
            var closes = string.Concat(Enumerable.Range(0, Math.Max(depth, 0)).Select(_ => Pick("*/", "**/", " */", "*/")));
            // A binary operator glued to the comment start: hiding the DELETE leaves "1 op 2".
            var op = depth == 0 ? "" : Pick("", "", "+", "-", "*", "/", "<", "=", "<>", "!=", ">=", "%", "^");
            return $"{K("select")} 1 {op}{open};{W()}{Sentinel()};{W()}{Guard()}{closes}{(op.Length > 0 ? " 2" : Pick("", " AS x"))}";
        }

        private string Identifier()
        {
            var prefix = Pick("", "", "U&", "u&");
            var body = Pick("a", "", "x;y", "\u00e9", "!0041", "\\0041");
            var quote = Pick("\"\"", "\\", "\\\"\"", "\"\"\"\"", "\\\\", "", "'");
            var tail = prefix.Length == 0 ? ""
                : Pick("", "", " UESCAPE '!'", " UESCAPE '\\'", " uescape '\"'", " UESCAPE ''''", " UESCAPE '+'", " /**/UESCAPE/**/'!'");
            var alias = prefix.Length == 0 ? Pick("AS ", "", "as") : Pick("AS ", "");
            return $"{K("select")} 1 {alias}{prefix}\"{body}{quote}\"{tail};{W()}{Sentinel()};{W()}{Guard()}{Pick("\"", "\"\"", "SELECT 1 AS \"", "")}";
        }

        private string Uescape()
        {
            var body = Pick("x", "!0041", "\\0041", "!!", "\\\\", "!+000041", "\\+000041", "a''b", "!", "\\");
            var escape = Pick("!", "!", "*", "-", "\\", "\\", "'", "''", "\"", "+", "a", " ", "!!", "\\'", "''''");
            var between = Pick(" ", "\n", "/**/", " --c\n", "");
            return $"{K("select")} {Pick("U&", "u&")}'{body}'{between}{K("uescape")}{Pick(" ", "", "/**/", "\n")}'{escape}'{Pick("", " AS x")};"
                + $"{W()}{Sentinel()};{W()}{Pick("-- '", "'", "", "SELECT '")}";
        }

        /// <summary>"--" and "/*" end an operator; a line comment ends at \n or \r only (not \f or \v).</summary>
        private string Operator()
        {
            var op = Pick("", "", "", "+", "-", "*", "<", "=", "<>", "!=", "@", "||", "#");
            if (Chance(50))
            {
                var end = Pick("\n", "\r", "\r\n", "\n\r", "\f", "\v", "\f", "\v", "", " ");
                var bait = Pick("x", ";", "; SELECT", "*/", "'", "");
                return $"{K("select")} 2 {op}--{bait}{end}{(op.Length > 0 ? " 3" : "")};{W()}{Sentinel()};\n; SELECT 3";
            }
            var inside = Pick("", "x", ";", "; SELECT 3 --", "*", "/", "-");
            var after = Pick(" 3", "3", "-3", "");
            return $"{K("select")} 2 {op}/*{inside}*/{after};{W()}{Sentinel()}{Pick("", ";", "; SELECT 4")}";
        }

        private static readonly string[] SoupPieces =
            ["'", "''", "\\'", "\\\\", "\\", "E'", "e'", "N'", "B'", "X'", "U&'", "u&'", "\"", "\"\"", "U&\"", "$$", "$a$", "$A$", "$b$",
             "x$a$", "$1", "/*", "*/", "/**/", "/*/", "*/*", "--", "\n", "\r", " ", ";", "(", ")", " UESCAPE '!'", "!", "1", "a", "::text", " || ",
             "\u00a0", "\u3000", "\f", "\v"];

        private string Soup()
        {
            string Pieces(int min, int max)
            {
                var sb = new StringBuilder();
                for (var k = rng.Next(min, max); k > 0; k--)
                    sb.Append(SoupPieces[rng.Next(SoupPieces.Length)]);
                return sb.ToString();
            }
            return $"{K("select")} {Pieces(1, 6)};{W()}{Sentinel()};{Pieces(0, 5)}";
        }

        /// <summary>EXPLAIN around the sentinel DELETE, with the option spellings the server accepts as ANALYZE on
        /// (quoted and U&amp; names, 1/+1/001, 'on', E'true', 'o'&lt;newline&gt;'n'…) and ones it rejects or reads as off.</summary>
        public string Explain()
        {
            var prepared = Chance(15);
            var inner = prepared ? $"{K("execute")} p" : Delete();
            var head = Chance(25)
                ? $"{K("explain")}{W()}{Pick(K("analyze"), K("analyse"), K("verbose"), K("analyze") + W() + K("verbose"), "")}{W()}"
                : $"{K("explain")}{W()}({Options()}){W()}";
            var sql = head + inner;
            return prepared ? $"{K("prepare")} p {K("as")} {Delete()};{W()}{sql};{W()}{K("deallocate")} p" : sql;
        }

        private string Options()
        {
            var options = new List<string>();
            for (var k = rng.Next(0, 3); k > 0; k--)
                options.Add(OtherOption());
            for (var k = Chance(85) ? rng.Next(1, 3) : 0; k > 0; k--)
                options.Insert(rng.Next(options.Count + 1), AnalyzeName() + AnalyzeValue());
            if (options.Count == 0)
                options.Add(OtherOption());
            return string.Join(W() + "," + W(), options);
        }

        private string AnalyzeName() => Pick(
            K("analyze"), K("analyse"), K("analyze"), "\"analyze\"", "U&\"analyze\"", "U&\"\\0061nalyze\"", "U&\"!0061nalyze\" UESCAPE '!'",
            "\"ANALYZE\"", "\"analyse\"", "/* c */" + K("analyze"));

        private string AnalyzeValue() => Pick(
            "", "", " 1", " 'on'", " E'true'", " $$yes$$", " $$on$$", " +1", " 001", " off", " 'of'", " true", " TRUE", " on", " \"on\"",
            " U&'on'", " 0", " -0", " 'ON'", " E'\\x6fn'", " $q$true$q$", " 'true'", " '1'", " 1.0", " false", " +0", " 'o'\n'n'",
            " E'o'\n'n'", " U&'\\006fn'", " 'tr' 'ue'", " /**/ on", " --c\n true", " 1::int", " yes", " \"true\"", " U&\"on\"");

        private string OtherOption() => Pick(
            K("verbose"), K("costs") + " off", K("buffers"), K("timing") + " off", K("summary"), K("format") + " json",
            K("settings"), K("wal"), K("verbose") + Pick(" on", " false", " 1"));
    }
}
