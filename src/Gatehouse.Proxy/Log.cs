using System.Net;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Proxy;

/// <summary>Every log line of the wire proxy. Never log tokens, passwords or parameter values.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Listening for PostgreSQL clients on {EndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(2, LogLevel.Information, "Session {SessionId} from {Remote}: {Subject} connected to target {Target} as upstream role {UpstreamUser}")]
    public static partial void SessionStarted(ILogger logger, string sessionId, string? remote, string subject, string target, string upstreamUser);

    [LoggerMessage(3, LogLevel.Information, "Session {SessionId} ended")]
    public static partial void SessionEnded(ILogger logger, string sessionId);

    /// <summary>Text a client chose (a database name in a refusal) without control characters: no terminal escapes or
    /// forged lines in the operator's log.</summary>
    public static string Printable(string text) =>
        text.Any(c => char.IsControl(c)) ? string.Concat(text.Select(c => char.IsControl(c) ? '?' : c)) : text;

    [LoggerMessage(15, LogLevel.Warning, "Session {Session}: the client went away while its statement was held for review; the review is withdrawn")]
    public static partial void ClientGoneWhileHeld(ILogger logger, string session);

    [LoggerMessage(4, LogLevel.Warning, "Connection from {Remote} refused: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, EndPoint? remote, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Session {SessionId}: protocol violation: {Reason}")]
    public static partial void ProtocolViolation(ILogger logger, string sessionId, string reason);

    [LoggerMessage(6, LogLevel.Warning, "Session {SessionId}: upstream connection lost: {Reason}")]
    public static partial void UpstreamLost(ILogger logger, string sessionId, string reason);

    [LoggerMessage(7, LogLevel.Warning, "Upstream login to target {Target} failed: {Reason}")]
    public static partial void UpstreamLoginFailed(ILogger logger, string target, string reason);

    [LoggerMessage(8, LogLevel.Information, "Cancel request forwarded for session {SessionId}")]
    public static partial void CancelForwarded(ILogger logger, string sessionId);

    [LoggerMessage(9, LogLevel.Warning, "Cancel request with an unknown or wrong key from {Remote}")]
    public static partial void CancelRejected(ILogger logger, EndPoint? remote);

    [LoggerMessage(10, LogLevel.Error, "Session {SessionId} failed unexpectedly")]
    public static partial void SessionFailed(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(11, LogLevel.Information, "Generated a self-signed TLS certificate at {Path}")]
    public static partial void GeneratedCertificate(ILogger logger, string path);

    [LoggerMessage(12, LogLevel.Debug, "Session {SessionId}: client disconnected: {Reason}")]
    public static partial void ClientGone(ILogger logger, string sessionId, string reason);

    [LoggerMessage(13, LogLevel.Information, "Session {SessionId}: statement {Verdict} by {RuleId}: {Reason}")]
    public static partial void StatementDecision(ILogger logger, string sessionId, string verdict, string ruleId, string reason);

    [LoggerMessage(14, LogLevel.Warning, "Session {SessionId} ended by a limit of its grant: {Reason}")]
    public static partial void SessionLimit(ILogger logger, string sessionId, string reason);

    [LoggerMessage(16, LogLevel.Information, "Session {SessionId} ended: {Reason}")]
    public static partial void SessionEnded(ILogger logger, string sessionId, string reason);
}
