using Gatehouse.Mcp;
using Gatehouse.Yaml;

namespace Gatehouse.Configuration;

/// <summary>The <c>mcp</c> section: limits of the MCP front door's tool calls (docs/mcp.md).</summary>
internal static class McpConfigReader
{
    public static McpLimits Read(YamlSection root)
    {
        var section = root.Section("mcp");
        if (section is null)
        {
            return McpLimits.Default;
        }

        var d = McpLimits.Default;
        var limits = new McpLimits(
            section.Int("max_rows", d.MaxRows, 1, 1_000_000),
            section.Int("max_bytes", d.MaxBytes, 1024, 256 * 1024 * 1024),
            section.Duration("statement_timeout", d.StatementTimeout),
            section.Int("max_concurrent_per_identity", d.MaxConcurrentPerIdentity, 1, 1000),
            section.Duration("pool_idle", d.PoolIdle));
        limits = limits with { ReviewWait = section.Duration("review_wait", Min(d.ReviewWait, limits.StatementTimeout / 2)) };
        if (limits.StatementTimeout < TimeSpan.FromSeconds(1))
        {
            section.Error(section.Get("statement_timeout")!, "'statement_timeout' must be at least 1s");
        }

        if (limits.PoolIdle < TimeSpan.FromSeconds(2))
        {
            section.Error(section.Get("pool_idle")!, "'pool_idle' must be at least 2s");
        }

        if (section.Get("review_wait") is not null && (limits.ReviewWait < TimeSpan.FromSeconds(1) || limits.ReviewWait >= limits.StatementTimeout))
        {
            // The held statement runs inside the call's statement_timeout, whose cancel would withdraw the review.
            section.Error(section.Get("review_wait")!,
                $"'review_wait' must be at least 1s and shorter than 'statement_timeout' ({limits.StatementTimeout.TotalSeconds:0.###}s)");
        }

        section.RejectUnknownKeys("mcp");
        return limits;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
