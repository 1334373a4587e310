using Gatehouse.Configuration;

namespace Gatehouse.IntegrationTests;

/// <summary>gatehouse.yaml as the executable reads it: every error at its position, defaults, paths from the file's directory.</summary>
public sealed class ConfigurationTests : IDisposable
{
    private const string MinimalTarget = "targets:\n  orders: { host: h, provisioner: { user: u, password_env: X } }\n";
    private readonly string _directory = Directory.CreateTempSubdirectory("gatehouse-config-").FullName;

    private (GatewayConfig? Config, IReadOnlyList<string> Errors) Load(string yaml)
    {
        string path = Path.Combine(_directory, "gatehouse.yaml");
        File.WriteAllText(path, yaml);
        var config = GatewayConfigLoader.Load(path, out var errors);
        return (config, errors.Select(e => e.Replace(path, "c.yaml", StringComparison.Ordinal)).ToList());
    }

    [Fact]
    public void Defaults_fill_what_the_file_leaves_out_and_paths_are_resolved_from_its_directory()
    {
        var (config, errors) = Load("identity: { dev_issuer: true }\n" + MinimalTarget + "policy: policy.yaml\n");

        Assert.Empty(errors);
        Assert.Equal("127.0.0.1:6432", config!.PostgresListen.ToString());
        Assert.Equal(Path.Combine(_directory, "policy.yaml"), config.PolicyPath);
        Assert.Equal("sqlite:" + Path.Combine(_directory, "gatehouse-state.db"), config.State);
        var target = config.Targets["orders"];
        Assert.Equal((5432, "orders", TargetTlsMode.VerifyFull), (target.Port, target.Database, target.Tls));
        Assert.Equal(new LimitsConfig(16 * 1024 * 1024, 1000, TimeSpan.FromSeconds(15)) { ReservedConnections = 100 }, config.Limits);
    }

    [Fact]
    public void The_audit_journal_is_on_by_default_and_can_be_turned_off()
    {
        var (on, _) = Load("identity: { dev_issuer: true }\n" + MinimalTarget);
        Assert.True(on!.Audit.Journal);
        var (off, errors) = Load("identity: { dev_issuer: true }\n" + MinimalTarget + "audit: { journal: false }\n");
        Assert.Empty(errors);
        Assert.False(off!.Audit.Journal);
        var (_, bad) = Load("identity: { dev_issuer: true }\n" + MinimalTarget + "audit: { journal: maybe }\n");
        Assert.Equal(["c.yaml:4:19: error: 'journal' must be true or false"], bad);
    }

    [Fact]
    public void Every_bad_value_is_reported_at_its_position()
    {
        var (config, errors) = Load("""
            listen:
              postgres: nope
            tls:
              certificate: c.pem
              extra: 1
            identity:
              clock_skew: forever
            state: mysql://x
            targets:
              b:
                port: 99999
                tls: maybe
                provisioner: { password_file: f, password_env: E }
                credentials: { mode: rotate, every: 30s }
            limits:
              max_client_connections: 0
            bogus: 1
            """);

        Assert.Null(config);
        Assert.Equal(
            [
                "c.yaml:2:13: error: listen.postgres must be ADDRESS:PORT with a port from 1 to 65535, e.g. 127.0.0.1:6432",
                "c.yaml:4:3: error: 'certificate' and 'key' go together",
                "c.yaml:5:3: error: unknown key 'extra' in tls",
                "c.yaml:7:15: error: 'clock_skew' must be a duration such as 30s, 15m, 1h",
                "c.yaml:7:3: error: identity needs an 'issuer' (or 'dev_issuer: true' for development)",
                "c.yaml:8:8: error: 'state' must be sqlite:PATH or postgres://…",
                "c.yaml:11:5: error: 'host' is required",
                "c.yaml:11:11: error: 'port' must be a whole number from 1 to 65535",
                "c.yaml:12:10: error: 'tls' must be disable, require, verify-ca or verify-full",
                "c.yaml:13:18: error: 'user' is required",
                "c.yaml:13:18: error: the provisioner needs exactly one of 'password_file' or 'password_env'",
                "c.yaml:14:18: error: credentials mode 'rotate' needs a 'role'",
                "c.yaml:14:41: error: credentials 'every' must be at least 1m",
                "c.yaml:16:27: error: 'max_client_connections' must be a whole number from 1 to 1000000",
                "c.yaml:17:1: error: unknown key 'bogus' in the configuration",
            ],
            errors);
    }

    [Theory]
    [InlineData("", "c.yaml:1:1: error: the configuration must be a YAML mapping")]
    [InlineData("- a\n", "c.yaml:1:1: error: the configuration must be a YAML mapping")]
    [InlineData("identity: { dev_issuer: true }\nidentity: {}\n" + MinimalTarget, "c.yaml:2:1: error: duplicate key 'identity' (first at line 1, column 1)")]
    [InlineData("identity: &i { dev_issuer: true }\n" + MinimalTarget, "c.yaml:1:11: error: anchors (&name) are not supported; repeat the value")]
    [InlineData("identity: { dev_issuer: true }\n" + MinimalTarget + "---\na: 1\n", "c.yaml:4:1: error: a configuration file holds one YAML document; found a second one")]
    public void The_yaml_itself_is_checked_as_strictly_as_a_policy(string yaml, string error)
    {
        var (config, errors) = Load(yaml);

        Assert.Null(config);
        Assert.Contains(error, errors);
    }

    [Theory]
    [InlineData("targets: {}\n")]
    [InlineData("targets: [a]\n")]
    [InlineData("")]
    public void A_configuration_without_a_target_is_an_error(string targets)
    {
        var (config, errors) = Load("identity: { dev_issuer: true }\n" + targets);

        Assert.Null(config);
        Assert.Contains(errors, e => e.EndsWith("error: 'targets' must be a mapping with at least one target", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
