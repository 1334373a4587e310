using Gatehouse.Policy.Model;
using Gatehouse.Sql;
using Gatehouse.Yaml;

namespace Gatehouse.Policy.Tests;

public class GlobAndDurationTests
{
    [Theory]
    [InlineData("lo_*", "lo_import", true)]
    [InlineData("lo_*", "lo_", true)]
    [InlineData("lo_*", "xlo_import", false)]
    [InlineData("*", "", true)]
    [InlineData("pay?ents", "payments", true)]
    [InlineData("pay?ents", "payents", false)]
    [InlineData("*_log_*", "app_log_2024", true)]
    [InlineData("*_log_*", "app_log", false)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("Orders", "orders", true)]
    public void Globs(string pattern, string text, bool expected)
    {
        Assert.Equal(expected, Glob.TryCreate(pattern, out _)!.IsMatch(text));
    }

    [Theory]
    [InlineData("", "empty pattern")]
    [InlineData("a[bc]", "'[' is not supported in patterns (only * and ? are wildcards)")]
    [InlineData("{a,b}", "'{' is not supported in patterns (only * and ? are wildcards)")]
    public void Bad_globs_say_why(string pattern, string problem)
    {
        Assert.Null(Glob.TryCreate(pattern, out var actual));
        Assert.Equal(problem, actual);
    }

    [Theory]
    [InlineData("10m", 600_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("500ms", 500)]
    [InlineData("90s", 90_000)]
    [InlineData("2d", 172_800_000)]
    public void Durations(string text, long ms)
    {
        Assert.True(Duration.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(ms), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("m")]
    [InlineData("10 m")]
    [InlineData("1w")]
    [InlineData("-5s")]
    [InlineData("1.5h")]
    public void Bad_durations(string text)
    {
        Assert.False(Duration.TryParse(text, out _));
    }

    [Fact]
    public void Rule_after_catch_all_allow_is_reachable_only_for_unknown_statements()
    {
        var (snapshot, grant) = Support.OneGrant("""
            - { id: all, then: allow }
            - { id: hold-unknown, when: { class: unknown }, then: review }
            """);

        Assert.Equal("hold-unknown", snapshot.Decide(grant, Support.Facts(StatementClass.Unknown, "")).RuleId);
        Assert.Equal("all", snapshot.Decide(grant, Support.Facts(StatementClass.Ddl, "DROP TABLE")).RuleId);

        var rejected = PolicyLoader.Parse("""
            identities: { a: { claims: { x: y } } }
            grants:
              - to: a
                targets: [t]
                db_roles: [r]
                rules:
                  - { id: all, then: allow }
                  - { id: late, when: { class: read }, then: deny }
            """, "p.yaml");
        Assert.Equal("p.yaml:8:9: error: rule 'late' can never match: rule 'all' (line 7) matches every statement", Assert.Single(rejected.Errors).ToString());
    }
}
