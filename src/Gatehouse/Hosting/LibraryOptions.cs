using Gatehouse.Configuration;
using Gatehouse.Identity;
using Gatehouse.Proxy;

namespace Gatehouse.Hosting;

/// <summary>Maps gatehouse.yaml onto the options each library owns (the credential broker's: <see cref="CredentialTargets"/>).</summary>
internal static class LibraryOptions
{
    public static ProxyOptions Proxy(GatewayConfig config) => new()
    {
        Listen = config.PostgresListen,
        Tls = new ServerTlsOptions
        {
            CertificatePath = config.Tls.CertificatePath,
            KeyPath = config.Tls.KeyPath,
            Require = config.Tls.Require,
            SelfSignedDirectory = config.StateDirectory,
        },
        Targets = config.Targets.Values.ToDictionary(t => t.Name, Upstream, StringComparer.Ordinal),
        Limits = new ProxyLimits(config.Limits.MaxMessageBytes, config.Limits.MaxClientConnections, config.Limits.StartupTimeout)
        {
            AuthTimeout = config.Limits.AuthTimeout,
            MaxUnauthenticatedPerAddress = config.Limits.MaxUnauthenticatedPerAddress,
            ReservedConnections = config.Limits.ReservedConnections,
        },
    };

    public static IdentityOptions Identity(GatewayConfig config) => new()
    {
        Issuer = config.Identity.Issuer,
        Audiences = config.Identity.Audiences,
        ClockSkew = config.Identity.ClockSkew,
        DevIssuer = config.Identity.DevIssuer,
    };

    private static UpstreamTarget Upstream(TargetConfig target) => new()
    {
        Name = target.Name,
        Host = target.Host,
        Port = target.Port,
        Database = target.Database,
        Tls = target.Tls switch
        {
            TargetTlsMode.Disable => UpstreamTlsMode.Disable,
            TargetTlsMode.Require => UpstreamTlsMode.Require,
            TargetTlsMode.VerifyCa => UpstreamTlsMode.VerifyCa,
            _ => UpstreamTlsMode.VerifyFull,
        },
        RootCertificatePath = target.RootCertificatePath,
    };
}
