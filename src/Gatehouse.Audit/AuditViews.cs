using System.Text.Json.Serialization;

namespace Gatehouse.Audit;

/// <summary>Which sessions <see cref="AuditReader.ListAsync"/> returns. Every filter is optional.</summary>
public sealed record SessionFilter
{
    /// <summary>The token subject that opened the session (exact).</summary>
    public string? Identity { get; init; }

    public string? Target { get; init; }

    /// <summary>Sessions that started at or after this time.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Sessions that started before this time.</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>Sessions with at least one statement decided so: allow, deny or review.</summary>
    public string? Decision { get; init; }

    /// <summary>Sessions with a statement whose SQL contains this text (case-insensitive).</summary>
    public string? Text { get; init; }

    /// <summary>At most this many sessions: the latest that match.</summary>
    public int Limit { get; init; } = 50;

    /// <summary>Only sessions whose start record comes before this one in the trail's order (paging back in time).</summary>
    public SessionCursor? Before { get; init; }

    /// <summary>Only sessions whose summary passes this test (e.g. live or not).</summary>
    public Func<SessionSummary, bool>? Where { get; init; }

    /// <summary>Why the time range can match nothing (since at or after until), or null: a reversed range is a mistake, not an empty answer.</summary>
    public string? RangeProblem(string since, string until) =>
        Since is { } from && Until is { } to && from >= to ? $"{since} ({from:u}) is not before {until} ({to:u})" : null;

    /// <summary>True when a session's statements must be read to know whether it matches.</summary>
    internal bool NeedsStatements => Decision is not null || Text is not null || Where is not null;
}

/// <summary>Where a session's start record sits in the trail's order (time, chain, seq): a page boundary.</summary>
public sealed record SessionCursor(DateTimeOffset Time, string Chain, long Seq)
{
    /// <summary>True when the row at (time, chain, seq) comes strictly before this cursor.</summary>
    public bool After(DateTimeOffset time, string chain, long seq)
    {
        int order = Time.CompareTo(time);
        if (order == 0)
        {
            order = string.CompareOrdinal(Chain, chain);
        }

        return order > 0 || (order == 0 && Seq > seq);
    }
}

/// <summary>One session of the trail, counted: from its session.start, its statements, outcomes and session.end.</summary>
public sealed record SessionSummary(
    string Session,
    string Chain,
    DateTimeOffset Started,
    DateTimeOffset? Ended,
    SessionStartedRecord Start,
    string? EndReason,
    long Statements,
    long Allowed,
    long Denied,
    long Reviewed,
    long Errors)
{
    /// <summary>The seq of the session's start record in its chain (with Started and Chain: its <see cref="SessionCursor"/>).</summary>
    [JsonIgnore]
    public long StartSeq { get; init; }
}

/// <summary>What the client saw for one execution of a statement.</summary>
public sealed record OutcomeView(DateTimeOffset Time, OutcomeRecord Outcome);

/// <summary>A statement as decided, with every outcome recorded for it (several when a prepared statement ran again).</summary>
public sealed record StatementView(DateTimeOffset Time, StatementRecord Statement, IReadOnlyList<OutcomeView> Outcomes);

/// <summary>A session and its statements in the order they were recorded.</summary>
public sealed record SessionDetail(SessionSummary Summary, IReadOnlyList<StatementView> Statements);

/// <summary>
/// One step of a replay, in recorded order: exactly one of the records is set. Sent is a statement as the agent
/// sent it (with the decision); Received is what came back (an outcome); a refused statement's error is in Sent.
/// </summary>
public sealed record SessionEvent(
    DateTimeOffset Time,
    string Chain,
    long Seq,
    string Kind,
    SessionStartedRecord? Start = null,
    StatementRecord? Sent = null,
    OutcomeRecord? Received = null,
    SessionEndedRecord? End = null);

/// <summary>A record of the trail could not be read as its kind (a body edited by hand, say); names the record.</summary>
public sealed class AuditReadException(string message) : Exception(message);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(IReadOnlyList<SessionSummary>))]
[JsonSerializable(typeof(SessionDetail))]
[JsonSerializable(typeof(SessionEvent))]
[JsonSerializable(typeof(IReadOnlyList<SessionEvent>))]
public sealed partial class AuditViewJson : JsonSerializerContext;
