namespace Gatehouse.Sql.Tests;

/// <summary>What masking looks up as calls a statement does not write as calls: operators (also those LIKE, BETWEEN,
/// IN stand for) and the types of casts.</summary>
public sealed class OperatorNamesTests
{
    private static (IReadOnlyList<QualifiedName> Operators, IReadOnlyList<QualifiedName> Casts) Read(string sql) =>
        OperatorNames.Of(sql, Assert.Single(SqlAnalyzer.Instance.Analyze(sql, new SqlSessionState()).Statements));

    private static string Show(IEnumerable<QualifiedName> names) => string.Join(' ', names.Select(n => n.ToString()));

    [Theory]
    [InlineData("SELECT @@@ 41", "@@@")]
    [InlineData("SELECT OPERATOR(public.@@@) 41", "public.@@@")]
    [InlineData("SELECT 1 + 2 * 3", "+ *")]
    [InlineData("SELECT 1 LIKE 2", "~~")]
    [InlineData("SELECT 1 NOT LIKE 2", "!~~")]
    [InlineData("SELECT 'a' ILIKE 'b' OR 'a' NOT ILIKE 'c'", "~~* !~~*")]
    [InlineData("SELECT 'a' SIMILAR TO 'b'", "~")]
    [InlineData("SELECT 1 WHERE 2 BETWEEN 1 AND 3", "<= >=")]
    [InlineData("SELECT 1 WHERE 2 IN (1, 2)", "= <>")]
    [InlineData("SELECT 'x'", "")]
    public void Operators_are_read_explicit_and_implied(string sql, string expected) => Assert.Equal(expected, Show(Read(sql).Operators));

    [Theory]
    [InlineData("SELECT (1::mytype).v", "mytype")]
    [InlineData("SELECT 1::public.mytype", "public.mytype")]
    [InlineData("SELECT CAST(3 AS mytype)", "mytype")]
    [InlineData("SELECT CAST(3 AS \"MyType\")", "MyType")]
    [InlineData("SELECT id::text, CAST(id AS public.t2) FROM orders", "text public.t2")]
    [InlineData("SELECT id AS mytype FROM orders", "")]
    [InlineData("SELECT count(*) AS n FROM (SELECT 1 AS x) s", "")]
    public void Cast_targets_are_read_from_both_spellings(string sql, string expected) => Assert.Equal(expected, Show(Read(sql).Casts));
}
