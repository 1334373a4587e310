using Gatehouse.Policy.Model;

namespace Gatehouse.Policy.Tests;

/// <summary>A grant's <c>audit</c>: result recording is opt-in and bounded; a wrong setting is one error at its line and column.</summary>
public sealed class GrantAuditTests
{
    private static PolicyLoadResult Load(string audit) => Support.OneGrantWith(audit.Length == 0 ? "" : "audit: " + audit);

    [Fact]
    public void Results_are_not_recorded_unless_a_grant_asks()
    {
        var result = Load("");
        Assert.True(result.Success, string.Join("\n", result.Errors));
        Assert.False(result.Snapshot!.Grants[0].Audit.Results);
        Assert.Same(GrantAudit.None, result.Snapshot.Grants[0].Audit);
    }

    [Fact]
    public void Results_with_bounds_are_read_as_written_and_default_bounds_apply_otherwise()
    {
        var bounded = Load("{ results: true, max_rows: 5, max_bytes: 2048 }");
        Assert.True(bounded.Success, string.Join("\n", bounded.Errors));
        Assert.Equal(new GrantAudit { Results = true, MaxRows = 5, MaxBytes = 2048 }, bounded.Snapshot!.Grants[0].Audit);

        var defaults = Load("{ results: true }");
        Assert.True(defaults.Success, string.Join("\n", defaults.Errors));
        Assert.Equal(new GrantAudit { Results = true, MaxRows = GrantAudit.DefaultMaxRows, MaxBytes = GrantAudit.DefaultMaxBytes }, defaults.Snapshot!.Grants[0].Audit);
    }

    [Theory]
    [InlineData("{ results: yes }", "p.yaml:7:23: error: 'results' must be true or false, got 'yes'")]
    [InlineData("{ results: true, max_rows: 0 }", "p.yaml:7:39: error: 'max_rows' must be a whole number from 1 to 10000, got '0'")]
    [InlineData("{ results: true, max_rows: 10001 }", "p.yaml:7:39: error: 'max_rows' must be a whole number from 1 to 10000, got '10001'")]
    [InlineData("{ results: true, max_bytes: 2097152 }", "p.yaml:7:40: error: 'max_bytes' must be a whole number from 1 to 1048576, got '2097152'")]
    [InlineData("{ max_rows: 10 }", "p.yaml:7:24: error: 'max_rows' and 'max_bytes' bound recorded results: set 'results: true' too, or leave them out")]
    [InlineData("{ result: true }", "p.yaml:7:14: error: unknown key 'result' in 'audit'; expected one of: results, max_rows, max_bytes")]
    [InlineData("true", "p.yaml:7:12: error: 'audit' must be a mapping, got a string")]
    public void A_wrong_audit_setting_is_one_error_at_its_line_and_column(string audit, string expected)
    {
        var result = Load(audit);
        Assert.False(result.Success);
        Assert.Equal(expected, Assert.Single(result.Errors).ToString());
    }
}
