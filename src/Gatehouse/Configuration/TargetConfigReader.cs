using Gatehouse.Yaml;

namespace Gatehouse.Configuration;

internal static class TargetConfigReader
{
    public static TargetConfig Read(string name, YamlSection section, Func<string?, string> resolve, ConfigFiles files)
    {
        string host = section.RequiredString("host", section.Node);
        int port = section.Int("port", 5432, 1, 65535);
        string database = section.String("database", name)!;
        string tlsText = section.String("tls", "verify-full")!;
        TargetTlsMode tls = tlsText switch
        {
            "disable" => TargetTlsMode.Disable,
            "require" => TargetTlsMode.Require,
            "verify-ca" => TargetTlsMode.VerifyCa,
            "verify-full" => TargetTlsMode.VerifyFull,
            _ => Invalid(section, "tls", "disable, require, verify-ca or verify-full"),
        };
        string? rootCert = files.Read(section, "root_certificate", $"targets.{name}.root_certificate", ConfigFileKind.CaBundle, resolve);

        var provisionerSection = section.Section("provisioner");
        ProvisionerConfig provisioner;
        if (provisionerSection is null)
        {
            section.Error(section.Node, $"target '{name}' needs a 'provisioner'");
            provisioner = new ProvisionerConfig(string.Empty, null, "-");
        }
        else
        {
            string user = provisionerSection.RequiredString("user", provisionerSection.Node);
            string? file = files.Read(provisionerSection, "password_file", $"targets.{name}.provisioner.password_file", ConfigFileKind.Secret, resolve);
            string? env = provisionerSection.String("password_env");
            if ((file is null) == (env is null))
            {
                provisionerSection.Error(provisionerSection.Node, "the provisioner needs exactly one of 'password_file' or 'password_env'");
            }

            provisioner = new ProvisionerConfig(user, file, env);
            provisionerSection.RejectUnknownKeys($"targets.{name}.provisioner");
        }

        var credentialsSection = section.Section("credentials");
        var credentials = new CredentialsConfig(CredentialMode.Ephemeral, TimeSpan.FromMinutes(15), null, TimeSpan.FromHours(1));
        if (credentialsSection is not null)
        {
            string mode = credentialsSection.String("mode", "ephemeral")!;
            var parsedMode = mode switch
            {
                "ephemeral" => CredentialMode.Ephemeral,
                "rotate" => CredentialMode.Rotate,
                _ => Invalid(credentialsSection, "mode", "ephemeral or rotate", CredentialMode.Ephemeral),
            };
            credentials = new CredentialsConfig(
                parsedMode,
                credentialsSection.Duration("ttl", TimeSpan.FromMinutes(15)),
                credentialsSection.String("role"),
                credentialsSection.Duration("every", TimeSpan.FromHours(1)))
            {
                Owner = credentialsSection.String("owner"),
                ConnectionLimit = credentialsSection.Int("connection_limit", 20, -1, 10_000),
                TerminateOnExpiry = credentialsSection.Bool("terminate_on_expiry", false),
            };
            if (parsedMode == CredentialMode.Rotate && credentials.Role is null)
            {
                credentialsSection.Error(credentialsSection.Node, "credentials mode 'rotate' needs a 'role'");
            }

            if (credentials.Every < TimeSpan.FromMinutes(1) && credentialsSection.Get("every") is { } every)
            {
                // Periods are shared by every instance (docs/credentials.md): a shorter one leaves clock skew too large a share.
                credentialsSection.Error(every, "credentials 'every' must be at least 1m");
            }

            credentialsSection.RejectUnknownKeys($"targets.{name}.credentials");
        }

        section.RejectUnknownKeys($"targets.{name}");
        return new TargetConfig
        {
            Name = name,
            Host = host,
            Port = port,
            Database = database,
            Tls = tls,
            RootCertificatePath = rootCert,
            Provisioner = provisioner,
            Credentials = credentials,
        };
    }

    private static TargetTlsMode Invalid(YamlSection section, string key, string allowed) =>
        Invalid(section, key, allowed, TargetTlsMode.Disable);

    private static T Invalid<T>(YamlSection section, string key, string allowed, T fallback)
    {
        section.Error(section.Get(key)!, $"'{key}' must be {allowed}");
        return fallback;
    }
}
