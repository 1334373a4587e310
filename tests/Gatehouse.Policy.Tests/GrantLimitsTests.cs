using Gatehouse.Policy.Model;

namespace Gatehouse.Policy.Tests;

/// <summary>A grant's <c>limits</c> (SPEC §3): what the reader accepts, and the one error line for what it does not.</summary>
public sealed class GrantLimitsTests
{
    private static PolicyLoadResult Load(string limits) => Support.OneGrantWith("limits: " + limits);

    [Fact]
    public void Limits_are_read_as_written()
    {
        var result = Load("{ statement_timeout: 30s, transaction_timeout: 5m, idle_in_transaction_timeout: 1h30m, max_connections: 10 }");
        Assert.True(result.Success, string.Join("\n", result.Errors));
        var limits = result.Snapshot!.Grants[0].Limits;
        Assert.Equal(TimeSpan.FromSeconds(30), limits.StatementTimeout);
        Assert.Equal(TimeSpan.FromMinutes(5), limits.TransactionTimeout);
        Assert.Equal(TimeSpan.FromMinutes(90), limits.IdleInTransactionTimeout);
        Assert.Equal(10, limits.MaxConnections);
    }

    [Fact]
    public void A_grant_without_limits_has_none_and_a_partial_mapping_leaves_the_rest_unlimited()
    {
        var result = Load("{ statement_timeout: 500ms }");
        Assert.True(result.Success, string.Join("\n", result.Errors));
        Assert.Equal(new GrantLimits { StatementTimeout = TimeSpan.FromMilliseconds(500) }, result.Snapshot!.Grants[0].Limits);
        Assert.True(GrantLimits.None.IsNone);
    }

    [Theory]
    [InlineData("{ statement_timeout: soon }", "p.yaml:7:34: error: 'statement_timeout' is not a duration: 'soon' (write e.g. 500ms, 30s, 5m)")]
    [InlineData("{ statement_timeout: 0s }", "p.yaml:7:34: error: 'statement_timeout' must be more than 0 and at most 24d, got '0s' (leave it out for no limit)")]
    [InlineData("{ idle_in_transaction_timeout: 30d }", "p.yaml:7:44: error: 'idle_in_transaction_timeout' must be more than 0 and at most 24d, got '30d' (leave it out for no limit)")]
    [InlineData("{ max_connections: 0 }", "p.yaml:7:32: error: 'max_connections' must be a whole number of at least 1, got '0'")]
    [InlineData("{ max_connections: -3 }", "p.yaml:7:32: error: 'max_connections' must be a whole number of at least 1, got '-3'")]
    [InlineData("{ statement_timout: 30s }", "p.yaml:7:15: error: unknown key 'statement_timout' in 'limits'; expected one of: statement_timeout, transaction_timeout, idle_in_transaction_timeout, max_connections")]
    [InlineData("30s", "p.yaml:7:13: error: 'limits' must be a mapping, got a string")]
    public void A_wrong_limit_is_one_error_at_its_line_and_column(string limits, string expected)
    {
        var result = Load(limits);
        Assert.False(result.Success);
        Assert.Equal(expected, Assert.Single(result.Errors).ToString());
    }
}
