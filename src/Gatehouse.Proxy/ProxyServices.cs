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

    /// <summary>Sessions past login on this instance, for the admin API.</summary>
    public LiveSessions Live { get; } = new();

    public required ILoggerFactory LoggerFactory { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Live client connections, for /metrics.</summary>
    public int ActiveSessions => Slots.Authenticated + Slots.Unauthenticated;

    /// <summary>Connection slots: the connection limits, before and after authentication.</summary>
    public ConnectionSlots Slots => _slots ??= new ConnectionSlots(Options.Limits);

    private ConnectionSlots? _slots;

    /// <summary>Sessions per (subject, target, grant), for a grant's limits.max_connections.</summary>
    public GrantSessionCounter GrantSessions { get; } = new();

    /// <summary>The gateway's measurements (/metrics); null: nothing is measured.</summary>
    public GatewayMetrics? Metrics { get; init; }

    /// <summary>Connections closed for not authenticating within limits.auth_timeout.</summary>
    public long AuthTimeoutCount => Interlocked.Read(ref AuthTimeouts);

    internal long AuthTimeouts;
}
