using Microsoft.Extensions.Logging;

namespace Gatehouse.Pipeline;

/// <summary>Log lines of the statement pipeline. Statement text and parameters are never logged above Debug.</summary>
internal static partial class PipelineLog
{
    [LoggerMessage(100, LogLevel.Information, "Refused a statement from {Subject} on {Target} (rule {RuleId}): {Message}")]
    public static partial void Refused(ILogger logger, string subject, string target, string ruleId, string message);

    [LoggerMessage(102, LogLevel.Error, "Audit trail cannot be written, statements are refused: {Reason}")]
    public static partial void AuditFailed(ILogger logger, string reason);

    [LoggerMessage(101, LogLevel.Warning, "Mask check: {Warning}")]
    public static partial void MaskColumnWarning(ILogger logger, string warning);
}
