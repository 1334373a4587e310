using System.Security.Cryptography.X509Certificates;
using Gatehouse.Pipeline;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Proxy;

/// <summary>What every session shares: options, TLS identity, authentication, admission, cancel keys.</summary>
public sealed class ProxyServices
{
    public required ProxyOptions Options { get; init; }

    public required X509Certificate2 Certificate { get; init; }

    public required IAuthenticator Authenticator { get; init; }

    public required ISessionAdmission Admission { get; init; }

    public CancelRegistry CancelKeys { get; } = new();

    public required ILoggerFactory LoggerFactory { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Live client connections, for /metrics.</summary>
    public int ActiveSessions => Slots.Authenticated + Slots.Unauthenticated;

    /// <summary>Connection slots: the connection limits, before and after authentication.</summary>
    public ConnectionSlots Slots => _slots ??= new ConnectionSlots(Options.Limits);

    private ConnectionSlots? _slots;

    /// <summary>Sessions per (subject, target, grant), for a grant's limits.max_connections.</summary>
    public GrantSessionCounter GrantSessions { get; } = new();

    /// <summary>Appends the wire side's Prometheus lines.</summary>
    public void WriteMetrics(System.Text.StringBuilder text)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        text.Append("# TYPE gatehouse_unauthenticated_connections gauge\n");
        text.Append(c, $"gatehouse_unauthenticated_connections {Slots.Unauthenticated}\n");
        text.Append("# TYPE gatehouse_connections_evicted_total counter\n");
        text.Append(c, $"gatehouse_connections_evicted_total {Slots.Evicted}\n");
        text.Append("# TYPE gatehouse_connections_refused_total counter\n");
        text.Append(c, $"gatehouse_connections_refused_total{{reason=\"full\"}} {Slots.Refused}\n");
        text.Append(c, $"gatehouse_connections_refused_total{{reason=\"auth_timeout\"}} {Interlocked.Read(ref AuthTimeouts)}\n");
        text.Append(c, $"gatehouse_connections_refused_total{{reason=\"grant_max_connections\"}} {GrantSessions.Refused}\n");
    }

    internal long AuthTimeouts;
}
