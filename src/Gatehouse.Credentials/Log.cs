using Microsoft.Extensions.Logging;

namespace Gatehouse.Credentials;

/// <summary>Every log line of the credential broker. Passwords and verifiers are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(300, LogLevel.Information, "Leased upstream role {Role} on target {Target} for {Subject} (db roles: {DbRoles}) until {Expires:o}")]
    public static partial void LeaseCreated(ILogger logger, string role, string target, string subject, string dbRoles, DateTimeOffset expires);

    [LoggerMessage(301, LogLevel.Debug, "Reusing upstream role {Role} on target {Target} for {Subject}")]
    public static partial void LeaseReused(ILogger logger, string role, string target, string subject);

    [LoggerMessage(302, LogLevel.Information, "Renewed upstream role {Role} on target {Target} until {Expires:o}")]
    public static partial void LeaseRenewed(ILogger logger, string role, string target, DateTimeOffset expires);

    [LoggerMessage(303, LogLevel.Warning, "Cannot lease a credential on target {Target} for {Subject}: {Cause}")]
    public static partial void LeaseFailed(ILogger logger, string target, string subject, string cause);

    [LoggerMessage(304, LogLevel.Information, "Dropped upstream role {Role} on target {Target}: {Reason}")]
    public static partial void RoleDropped(ILogger logger, string role, string target, string reason);

    [LoggerMessage(305, LogLevel.Warning, "Could not drop upstream role {Role} on target {Target}: {Cause}")]
    public static partial void DropFailed(ILogger logger, string role, string target, string cause);

    [LoggerMessage(306, LogLevel.Warning, "Could not renew upstream role {Role} on target {Target}: {Cause}")]
    public static partial void RenewFailed(ILogger logger, string role, string target, string cause);

    [LoggerMessage(307, LogLevel.Information, "Rotated the password of role {Role} on target {Target}")]
    public static partial void PasswordRotated(ILogger logger, string role, string target);

    [LoggerMessage(308, LogLevel.Warning, "Could not rotate the password of role {Role} on target {Target}: {Cause}")]
    public static partial void RotationFailed(ILogger logger, string role, string target, string cause);

    [LoggerMessage(309, LogLevel.Error, "Credential reaper pass failed for target {Target}")]
    public static partial void ReaperFailed(ILogger logger, Exception exception, string target);

    [LoggerMessage(310, LogLevel.Error, "Lease store unavailable while {Action}")]
    public static partial void StoreFailed(ILogger logger, Exception exception, string action);
}
