using Gatehouse.Audit;
using Gatehouse.State;
using Gatehouse.Yaml;

namespace Gatehouse.Configuration;

/// <summary>
/// The <c>audit</c> section. <c>enabled: false</c> exists for benchmarks and relay tests only: the gateway says so
/// loudly at every start. Without <c>key_file</c> the key is made in the state directory, which suits one instance;
/// instances sharing a PostgreSQL store must share the key, so there <c>key_file</c> is required. <c>journal</c>
/// (default true) keeps each record in a local write-ahead journal before the store has it (AuditJournal).
/// </summary>
public sealed record AuditConfig(
    bool Enabled, string? KeyFile, AuditDurability Durability, AuditFailureMode OnFailure, TimeSpan? Retention, bool Journal = true)
{
    public static AuditConfig Default { get; } = new(true, null, AuditDurability.Process, AuditFailureMode.Deny, TimeSpan.FromDays(90));
}

internal static class AuditConfigReader
{
    public static AuditConfig Read(YamlSection root, Func<string?, string> resolve, ConfigFiles files, bool sharedStore)
    {
        var section = root.Section("audit");
        if (section is null)
        {
            if (sharedStore)
            {
                root.Error(root.Get("state")!, "a postgres:// state store is shared by instances, so they must share the audit key: set audit.key_file");
            }

            return AuditConfig.Default;
        }

        bool enabled = section.Bool("enabled", true);
        string? keyFile = files.Read(section, "key_file", "audit.key_file", ConfigFileKind.Secret, resolve);
        if (keyFile is null && sharedStore && enabled)
        {
            root.Error(section.Node, "a postgres:// state store is shared by instances, so they must share the audit key: set audit.key_file");
        }

        var durability = section.String("durability", "process") switch
        {
            "process" => AuditDurability.Process,
            "os" => AuditDurability.Os,
            _ => Invalid(section, "durability", "'durability' must be process or os", AuditDurability.Process),
        };
        var onFailure = section.String("on_failure", "deny") switch
        {
            "deny" => AuditFailureMode.Deny,
            "allow" => AuditFailureMode.Allow,
            _ => Invalid(section, "on_failure", "'on_failure' must be deny or allow", AuditFailureMode.Deny),
        };
        TimeSpan? retention = section.String("retention") is "forever" ? null : section.Duration("retention", TimeSpan.FromDays(90));
        if (retention is { } kept && kept < TimeSpan.FromHours(1))
        {
            section.Error(section.Get("retention")!, "'retention' must be at least 1h (or forever)");
        }

        bool journal = section.Bool("journal", true);
        section.RejectUnknownKeys("audit");
        return new AuditConfig(enabled, keyFile, durability, onFailure, retention, journal);
    }

    private static T Invalid<T>(YamlSection section, string key, string message, T fallback)
    {
        section.Error(section.Get(key)!, message);
        return fallback;
    }
}
