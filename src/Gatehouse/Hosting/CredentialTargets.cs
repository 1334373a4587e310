using Gatehouse.Configuration;
using Gatehouse.Credentials;
using Gatehouse.Policy;
using Npgsql;

namespace Gatehouse.Hosting;

/// <summary>Maps configured targets onto the credential broker's inputs.</summary>
internal static class CredentialTargets
{
    public static Dictionary<string, CredentialTarget> FromConfig(GatewayConfig config) =>
        config.Targets.Values.ToDictionary(t => t.Name, Map, StringComparer.Ordinal);

    public static CredentialTarget Map(TargetConfig target) => new()
    {
        Name = target.Name,
        Host = target.Host,
        Port = target.Port,
        Database = target.Database,
        SslMode = target.Tls switch
        {
            TargetTlsMode.Disable => SslMode.Disable,
            TargetTlsMode.Require => SslMode.Require,
            TargetTlsMode.VerifyCa => SslMode.VerifyCA,
            _ => SslMode.VerifyFull,
        },
        RootCertificatePath = target.RootCertificatePath,
        ProvisionerUser = target.Provisioner.User,
        ProvisionerPassword = target.Provisioner.ReadPassword,
        Mode = target.Credentials.Mode == CredentialMode.Rotate ? UpstreamCredentialMode.Rotate : UpstreamCredentialMode.Ephemeral,
        Ttl = target.Credentials.Ttl,
        Role = target.Credentials.Role,
        Every = target.Credentials.Every,
        ReassignOwnedTo = target.Credentials.Owner,
        ConnectionLimit = target.Credentials.ConnectionLimit,
        TerminateOnExpiry = target.Credentials.TerminateOnExpiry,
    };

    /// <summary>Every db role some grant of the policy gives on the target: the provisioner must be able to grant each.</summary>
    public static IEnumerable<string> DbRolesFor(PolicySnapshot policy, string target) =>
        policy.Grants.Where(g => g.HasTarget(target)).SelectMany(g => g.DbRoles).Distinct(StringComparer.Ordinal);
}
