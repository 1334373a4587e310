using System.Net;

namespace Gatehouse.Proxy;

/// <summary>What the wire side needs: where to listen, client TLS, limits, and how to reach each target. Built by the host.</summary>
public sealed record ProxyOptions
{
    public required IPEndPoint Listen { get; init; }

    public required ServerTlsOptions Tls { get; init; }

    /// <summary>Keyed by target name, the dbname clients connect with.</summary>
    public required IReadOnlyDictionary<string, UpstreamTarget> Targets { get; init; }

    public required ProxyLimits Limits { get; init; }
}

/// <summary>The certificate clients see, and whether they must use TLS.</summary>
public sealed record ServerTlsOptions
{
    /// <summary>PEM certificate; null: a self-signed one is made in <see cref="SelfSignedDirectory"/>.</summary>
    public string? CertificatePath { get; init; }

    public string? KeyPath { get; init; }

    /// <summary>False allows plaintext from loopback clients only.</summary>
    public required bool Require { get; init; }

    /// <summary>Where the self-signed certificate and its key are kept.</summary>
    public required string SelfSignedDirectory { get; init; }
}

public enum UpstreamTlsMode
{
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

/// <summary>How the wire reaches one target's server; logins come from admission, never from here.</summary>
public sealed record UpstreamTarget
{
    public required string Name { get; init; }

    public required string Host { get; init; }

    public required int Port { get; init; }

    public required string Database { get; init; }

    /// <summary>As libpq's sslmode: disable, require, verify-ca, verify-full.</summary>
    public required UpstreamTlsMode Tls { get; init; }

    /// <summary>PEM bundle of CAs trusted for verify-ca/verify-full; null means the system store.</summary>
    public string? RootCertificatePath { get; init; }
}

/// <param name="MaxMessageBytes">Largest Query/Parse message read from a client; a larger one is refused unread (54000).
/// Bind and COPY data stream and have no limit.</param>
/// <param name="MaxClientConnections">All connections, authenticated or not; past it (every slot authenticated) refused with 53300.</param>
/// <param name="StartupTimeout">How long a client has to finish TLS, startup, authentication and the upstream login.</param>
public sealed record ProxyLimits(int MaxMessageBytes, int MaxClientConnections, TimeSpan StartupTimeout)
{
    public const int DefaultMaxMessageBytes = 16 * 1024 * 1024;

    /// <summary>How long a client has from its first byte until its token is validated.</summary>
    public TimeSpan AuthTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Connections from one address that may wait to authenticate at once.</summary>
    public int MaxUnauthenticatedPerAddress { get; init; } = 64;

    /// <summary>Slots only authenticated sessions may hold: unauthenticated connections use at most
    /// <see cref="MaxClientConnections"/> minus this.</summary>
    public int ReservedConnections { get; init; }
}
