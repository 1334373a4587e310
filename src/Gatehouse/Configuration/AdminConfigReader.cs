using Gatehouse.Yaml;

namespace Gatehouse.Configuration;

/// <summary>The <c>admin</c> section: the policy identities that manage the gateway and read the trail (SPEC §2).</summary>
public sealed record AdminConfig(string? Identities, string? Auditors)
{
    public static AdminConfig None { get; } = new(null, null);
}

internal static class AdminConfigReader
{
    public static AdminConfig Read(YamlSection root)
    {
        if (root.Section("admin") is not { } section)
        {
            return AdminConfig.None;
        }

        var config = new AdminConfig(section.String("identities"), section.String("auditors"));
        section.RejectUnknownKeys("admin");
        return config;
    }
}
