using Gatehouse.Configuration;

namespace Gatehouse.IntegrationTests;

/// <summary>The mcp: section's review_wait as the executable reads it: its default, and errors at their position.</summary>
public sealed class McpConfigTests : IDisposable
{
    private const string Base = "identity: { dev_issuer: true }\ntargets:\n  orders: { host: h, provisioner: { user: u, password_env: X } }\n";
    private readonly string _directory = Directory.CreateTempSubdirectory("gatehouse-mcp-config-").FullName;

    [Theory]
    [InlineData("", 10)]
    [InlineData("mcp: { max_rows: 5 }\n", 10)]
    [InlineData("mcp: { statement_timeout: 8s }\n", 4)]
    [InlineData("mcp: { review_wait: 25s }\n", 25)]
    public void Review_wait_defaults_to_10s_or_half_the_statement_timeout(string mcp, int seconds)
    {
        var (config, errors) = Load(Base + mcp);
        Assert.True(config is not null, string.Join("\n", errors));
        Assert.Equal(TimeSpan.FromSeconds(seconds), config.Mcp.ReviewWait);
    }

    [Theory]
    [InlineData("mcp: { review_wait: 30s }\n", "c.yaml:4:21: error: 'review_wait' must be at least 1s and shorter than 'statement_timeout' (30s)")]
    [InlineData("mcp: { statement_timeout: 5s, review_wait: 6s }\n", "c.yaml:4:44: error: 'review_wait' must be at least 1s and shorter than 'statement_timeout' (5s)")]
    [InlineData("mcp: { review_wait: 500ms }\n", "c.yaml:4:21: error: 'review_wait' must be at least 1s and shorter than 'statement_timeout' (30s)")]
    public void A_review_wait_outside_1s_to_the_statement_timeout_is_an_error_at_its_position(string mcp, string error)
    {
        var (config, errors) = Load(Base + mcp);
        Assert.Null(config);
        Assert.Contains(error, errors);
    }

    private (GatewayConfig? Config, IReadOnlyList<string> Errors) Load(string yaml)
    {
        string path = Path.Combine(_directory, "gatehouse.yaml");
        File.WriteAllText(path, yaml);
        var config = GatewayConfigLoader.Load(path, out var errors);
        return (config, errors.Select(e => e.Replace(path, "c.yaml", StringComparison.Ordinal)).ToList());
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
