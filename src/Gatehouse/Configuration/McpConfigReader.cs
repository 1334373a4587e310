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
        if (limits.StatementTimeout < TimeSpan.FromSeconds(1))
        {
            section.Error(section.Get("statement_timeout")!, "'statement_timeout' must be at least 1s");
        }

        if (limits.PoolIdle < TimeSpan.FromSeconds(2))
        {
            section.Error(section.Get("pool_idle")!, "'pool_idle' must be at least 2s");
        }

        section.RejectUnknownKeys("mcp");
        return limits;
    }
}
