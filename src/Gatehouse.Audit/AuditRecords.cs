using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gatehouse.Audit;

/// <summary>The kinds of record in a chain, as stored in <c>kind</c>.</summary>
public static class AuditKinds
{
    public const string ChainStarted = "chain.start";
    public const string ChainEnded = "chain.end";
    public const string SessionStarted = "session.start";
    public const string SessionEnded = "session.end";
    public const string Statement = "statement";
    public const string Outcome = "outcome";
    public const string PolicyReplaced = "policy.replace";
}

/// <summary>Who sent a session's statements, from their token: claims worth keeping, and the token's SHA-256, never the token.</summary>
public sealed record AuditIdentity(
    string Issuer,
    string Subject,
    string? ClientId,
    string? Name,
    IReadOnlyList<string> Groups,
    string? TokenId,
    string TokenSha256);

/// <summary>A gateway process began writing this chain.</summary>
public sealed record ChainStartedRecord(string Instance, string Host, int ProcessId, string Version);

/// <summary>An admin replaced the policy through the admin API (or the console): who, and the versions (SHA-256 of the text).</summary>
public sealed record PolicyReplacedRecord(string By, string Issuer, string Version, string Previous);

/// <summary>The gateway stopped cleanly; a chain without one ended in a crash (or lost its tail).</summary>
public sealed record ChainEndedRecord(string Instance, long Records);

public sealed record SessionStartedRecord(
    string Session,
    string FrontDoor,
    string? Client,
    string? Tls,
    string Target,
    AuditIdentity Identity,
    string UpstreamRole);

public sealed record SessionEndedRecord(string Session, long Statements, string? Reason);

/// <summary>
/// One statement as the pipeline decided it: recorded before it is forwarded (or refused). <see cref="PreviousOutcome"/>
/// is the outcome of an earlier statement of the session that was still waiting to be recorded (its time is in it):
/// a statement and the previous one's outcome share a record, so a session sending statement after statement writes
/// one record per statement, not two.
/// </summary>
public sealed record StatementRecord(
    string Session,
    long Statement,
    string Sql,
    string? Prepared,
    IReadOnlyList<StatementPart> Parts,
    string Decision,
    string? Rule,
    string Reason,
    string? SqlState,
    string? Message,
    string? Review = null,
    string? Reviewer = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] OutcomeRecord? PreviousOutcome = null);

/// <summary>The analyzer's facts of one statement of a query string.</summary>
public sealed record StatementPart(
    string Command,
    string Class,
    IReadOnlyList<string> Reads,
    IReadOnlyList<string> Writes,
    IReadOnlyList<string> Functions);

/// <summary>
/// What the client saw for one execution of a recorded statement. <see cref="Time"/> is when it was seen; null in
/// records written before outcomes were held for the session's next statement (the record's own time is it then).
/// </summary>
public sealed record OutcomeRecord(
    string Session,
    long Statement,
    bool Succeeded,
    string? CommandTag,
    long? Rows,
    double DurationMs,
    string? SqlState,
    string? Message,
    IReadOnlyList<string?>? Parameters,
    IReadOnlyList<string> MaskedColumns,
    string? Review = null,
    string? Reviewer = null,
    AuditResult? Result = null,
    DateTimeOffset? Time = null);

/// <summary>
/// The rows the client received for one execution, after masking, when its grant records results (<c>audit:
/// { results: true }</c>): the first result set's column names, its rows (as text; binary-format values of other
/// than text, integer, boolean and uuid types as <c>\x</c> hex; null for SQL NULL), the columns a mask rewrote, and whether rows (or result sets) were left out by the bounds.
/// Null (and absent from the body) otherwise, so records written before it read and verify unchanged.
/// </summary>
public sealed record AuditResult(
    IReadOnlyList<string> Columns,
    IReadOnlyList<IReadOnlyList<string?>> Rows,
    IReadOnlyList<string> MaskedColumns,
    bool Truncated);

/// <summary>Record bodies are compact snake_case JSON, written once; the MAC covers the stored text, so it need not be canonical.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ChainStartedRecord))]
[JsonSerializable(typeof(ChainEndedRecord))]
[JsonSerializable(typeof(SessionStartedRecord))]
[JsonSerializable(typeof(SessionEndedRecord))]
[JsonSerializable(typeof(StatementRecord))]
[JsonSerializable(typeof(OutcomeRecord))]
[JsonSerializable(typeof(PolicyReplacedRecord))]
public sealed partial class AuditJson : JsonSerializerContext
{
    public static string Write<T>(T record) => JsonSerializer.Serialize(record, typeof(T), Default);

    public static T Read<T>(string body) => (T)JsonSerializer.Deserialize(body, typeof(T), Default)!;
}
