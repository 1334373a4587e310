using System.Net;

namespace Gatehouse.Configuration;

/// <summary>
/// The validated, immutable gateway configuration: gatehouse.yaml as written, defaults filled in, paths absolute.
/// The host maps it onto each library's options (Hosting/LibraryOptions.cs, Hosting/CredentialTargets.cs).
/// </summary>
public sealed record GatewayConfig
{
    public required string SourcePath { get; init; }

    public required IPEndPoint PostgresListen { get; init; }

    public required IPEndPoint AdminListen { get; init; }

    public required TlsConfig Tls { get; init; }

    public required IdentityConfig Identity { get; init; }

    /// <summary>The state store URI as written (sqlite:… or postgres://…).</summary>
    public required string State { get; init; }

    /// <summary>Where Gatehouse keeps generated files: the self-signed certificate, the dev issuer key.</summary>
    public required string StateDirectory { get; init; }

    public required IReadOnlyDictionary<string, TargetConfig> Targets { get; init; }

    public string? PolicyPath { get; init; }

    public required LimitsConfig Limits { get; init; }

    public AuditConfig Audit { get; init; } = AuditConfig.Default;

    public AdminConfig Admin { get; init; } = AdminConfig.None;

    public Gatehouse.Mcp.McpLimits Mcp { get; init; } = Gatehouse.Mcp.McpLimits.Default;

    /// <summary>Every file the configuration names, with its position; read when the gateway starts (<see cref="ConfigFiles.Check"/>).</summary>
    public IReadOnlyList<ConfigFile> Files { get; init; } = [];
}

public sealed record TlsConfig(string? CertificatePath, string? KeyPath, bool Require);

public sealed record IdentityConfig(string? Issuer, IReadOnlyList<string> Audiences, TimeSpan ClockSkew, bool DevIssuer)
{
    /// <summary>Who may sign in to the console at the dev issuer (identity.dev_logins).</summary>
    public IReadOnlyList<DevLoginConfig> DevLogins { get; init; } = [];
}

public enum TargetTlsMode
{
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

public sealed record TargetConfig
{
    public required string Name { get; init; }

    public required string Host { get; init; }

    public required int Port { get; init; }

    public required string Database { get; init; }

    public required TargetTlsMode Tls { get; init; }

    /// <summary>PEM bundle of CAs trusted for verify-ca/verify-full; null means the system store.</summary>
    public string? RootCertificatePath { get; init; }

    public required ProvisionerConfig Provisioner { get; init; }

    public required CredentialsConfig Credentials { get; init; }
}

/// <summary>The one static upstream credential per target. The password is read when needed, never kept in config objects.</summary>
public sealed record ProvisionerConfig(string User, string? PasswordFile, string? PasswordEnv)
{
    public string ReadPassword()
    {
        if (PasswordFile is not null)
        {
            return File.ReadAllText(PasswordFile).TrimEnd('\r', '\n');
        }

        return Environment.GetEnvironmentVariable(PasswordEnv!)
            ?? throw new InvalidOperationException($"environment variable {PasswordEnv} is not set");
    }
}

public enum CredentialMode
{
    Ephemeral,
    Rotate,
}

public sealed record CredentialsConfig(CredentialMode Mode, TimeSpan Ttl, string? Role, TimeSpan Every)
{
    /// <summary>Role that receives objects a leased role created (REASSIGN OWNED); null drops them.</summary>
    public string? Owner { get; init; }

    /// <summary>CONNECTION LIMIT of a leased role; -1 for none.</summary>
    public int ConnectionLimit { get; init; } = 20;

    /// <summary>Terminate a lease's backends when it ends, so sessions cannot outlive it.</summary>
    public bool TerminateOnExpiry { get; init; }
}

public sealed record LimitsConfig(int MaxMessageBytes, int MaxClientConnections, TimeSpan StartupTimeout)
{
    /// <summary>From the first byte until the token is validated.</summary>
    public TimeSpan AuthTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public int MaxUnauthenticatedPerAddress { get; init; } = 64;

    /// <summary>Slots that only authenticated sessions may hold.</summary>
    public int ReservedConnections { get; init; }
}
