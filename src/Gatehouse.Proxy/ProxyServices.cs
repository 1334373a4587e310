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

    /// <summary>Live client sessions, for /metrics and the connection limit.</summary>
    public int ActiveSessions => _activeSessions;

    private int _activeSessions;

    internal bool TryEnter()
    {
        if (Interlocked.Increment(ref _activeSessions) <= Options.Limits.MaxClientConnections)
        {
            return true;
        }

        Interlocked.Decrement(ref _activeSessions);
        return false;
    }

    internal void Leave() => Interlocked.Decrement(ref _activeSessions);
}
