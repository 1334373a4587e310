using System.Runtime.CompilerServices;
using System.Text.Json;
using Gatehouse.State;

namespace Gatehouse.Audit;

/// <summary>
/// The queries of the trail's readers (the sessions verbs, the admin API). Everything streams: sessions are found
/// from their session.start records in the time range, and each session is read by its id (an indexed query),
/// so no query loads more of the trail than the sessions it returns. It reads records as stored and does not
/// check their MACs: that is <see cref="AuditVerifier"/>'s job.
/// </summary>
public sealed class AuditReader(IAuditStore store)
{
    private static readonly string[] StartKinds = [AuditKinds.SessionStarted];

    /// <summary>The latest <see cref="SessionFilter.Limit"/> sessions that match, oldest first.</summary>
    public async Task<IReadOnlyList<SessionSummary>> ListAsync(SessionFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(filter.Limit);

        // Without statement filters a session's start decides: keep the latest starts, read only those sessions.
        // With them, each candidate is read once to know whether it matches.
        var kept = new Queue<(AuditRow Row, SessionStartedRecord Start, SessionSummary? Summary)>();
        var until = filter.Until;
        if (filter.Before is { } before && (until is null || before.Time.AddMilliseconds(1) < until))
        {
            until = before.Time.AddMilliseconds(1); // stored times are whole milliseconds; rows at the cursor's are sorted below
        }

        var query = new AuditQuery(Since: filter.Since, Until: until, Kinds: StartKinds);
        await foreach (var row in store.ReadAsync(query, ct))
        {
            if (filter.Before is { } cursor && !cursor.After(row.Time, row.Chain, row.Seq))
            {
                continue;
            }

            var start = Body<SessionStartedRecord>(row);
            if ((filter.Identity is { } subject && start.Identity.Subject != subject) || (filter.Target is { } target && start.Target != target))
            {
                continue;
            }

            SessionSummary? summary = null;
            if (filter.NeedsStatements && (summary = await SummarizeAsync(row, start, filter, ct)) is null)
            {
                continue;
            }

            kept.Enqueue((row, start, summary));
            if (kept.Count > filter.Limit)
            {
                kept.Dequeue();
            }
        }

        var result = new List<SessionSummary>(kept.Count);
        foreach (var (row, start, summary) in kept)
        {
            result.Add(summary ?? (await SummarizeAsync(row, start, filter, ct))!);
        }

        return result;
    }

    /// <summary>One session with its statements in order, each with its outcomes; null when the trail has no such session.</summary>
    public async Task<SessionDetail?> ShowAsync(string session, CancellationToken ct)
    {
        var counter = new SessionCounter();
        var statements = new List<(DateTimeOffset Time, StatementRecord Record, List<OutcomeView> Outcomes)>();
        var byNumber = new Dictionary<long, List<OutcomeView>>();
        await foreach (var e in EventsAsync(session, ct))
        {
            counter.Add(e);
            if (e.Sent is { } sent)
            {
                var outcomes = new List<OutcomeView>();
                statements.Add((e.Time, sent, outcomes));
                byNumber[sent.Statement] = outcomes;
            }
            else if (e.Received is { } received && byNumber.TryGetValue(received.Statement, out var outcomes))
            {
                outcomes.Add(new OutcomeView(e.Time, received));
            }
        }

        return counter.Summary(session) is { } summary
            ? new SessionDetail(summary, [.. statements.Select(s => new StatementView(s.Time, s.Record, s.Outcomes))])
            : null;
    }

    /// <summary>A session's records in the order they were written: what the agent sent and what it got back.</summary>
    public async IAsyncEnumerable<SessionEvent> EventsAsync(string session, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(session);
        await foreach (var row in store.ReadAsync(new AuditQuery(SessionId: session), ct))
        {
            foreach (var e in Events(row))
            {
                yield return e;
            }
        }
    }

    private async Task<SessionSummary?> SummarizeAsync(AuditRow startRow, SessionStartedRecord start, SessionFilter filter, CancellationToken ct)
    {
        var counter = new SessionCounter();
        counter.Add(new SessionEvent(startRow.Time, startRow.Chain, startRow.Seq, startRow.Kind, Start: start));
        bool matches = !filter.NeedsStatements;
        await foreach (var row in store.ReadAsync(new AuditQuery(SessionId: start.Session), ct))
        {
            if (row.Kind == AuditKinds.SessionStarted)
            {
                continue;
            }

            foreach (var e in Events(row))
            {
                counter.Add(e);
                if (e.Sent is { } statement && !matches)
                {
                    matches = (filter.Decision is null || statement.Decision == filter.Decision)
                        && (filter.Text is null || statement.Sql.Contains(filter.Text, StringComparison.OrdinalIgnoreCase));
                }
            }
        }

        if (filter.Decision is null && filter.Text is null)
        {
            matches = true;
        }

        var summary = matches ? counter.Summary(start.Session) : null;
        return summary is not null && filter.Where is { } where && !where(summary) ? null : summary;
    }

    // A record's events: a statement record that carries the previous statement's outcome is that outcome (at its own
    // time), then the statement.
    private static IEnumerable<SessionEvent> Events(AuditRow row)
    {
        switch (row.Kind)
        {
            case AuditKinds.SessionStarted:
                yield return new SessionEvent(row.Time, row.Chain, row.Seq, row.Kind, Start: Body<SessionStartedRecord>(row));
                break;
            case AuditKinds.Statement:
                var statement = Body<StatementRecord>(row);
                if (statement.PreviousOutcome is { } previous)
                {
                    yield return new SessionEvent(previous.Time ?? row.Time, row.Chain, row.Seq, AuditKinds.Outcome, Received: previous);
                    statement = statement with { PreviousOutcome = null };
                }

                yield return new SessionEvent(row.Time, row.Chain, row.Seq, row.Kind, Sent: statement);
                break;
            case AuditKinds.Outcome:
                var outcome = Body<OutcomeRecord>(row);
                yield return new SessionEvent(outcome.Time ?? row.Time, row.Chain, row.Seq, row.Kind, Received: outcome);
                break;
            case AuditKinds.SessionEnded:
                yield return new SessionEvent(row.Time, row.Chain, row.Seq, row.Kind, End: Body<SessionEndedRecord>(row));
                break;
        }
    }

    private static T Body<T>(AuditRow row)
        where T : class
    {
        try
        {
            return AuditJson.Read<T>(row.Body) ?? throw new JsonException("null body");
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            throw new AuditReadException($"chain {row.Chain} record {row.Seq}: its body is not a {row.Kind} record; run gatehouse audit verify");
        }
    }

    /// <summary>Counts one session's records into a summary as they stream past.</summary>
    private sealed class SessionCounter
    {
        private SessionStartedRecord? _start;
        private string _chain = string.Empty;
        private long _startSeq;
        private DateTimeOffset _started;
        private DateTimeOffset? _ended;
        private string? _reason;
        private long _statements;
        private long _allowed;
        private long _denied;
        private long _reviewed;
        private long _errors;

        public void Add(SessionEvent e)
        {
            if (e.Start is { } start)
            {
                _start = start;
                _started = e.Time;
                _chain = e.Chain;
                _startSeq = e.Seq;
            }
            else if (e.Sent is { } sent)
            {
                _statements++;
                switch (sent.Decision)
                {
                    case "allow": _allowed++; break;
                    case "review": _reviewed++; break;
                    default: _denied++; break;
                }
            }
            else if (e.Received is { Succeeded: false })
            {
                _errors++;
            }
            else if (e.End is { } end)
            {
                _ended = e.Time;
                _reason = end.Reason;
            }
        }

        public SessionSummary? Summary(string session) => _start is null
            ? null
            : new SessionSummary(session, _chain, _started, _ended, _start, _reason, _statements, _allowed, _denied, _reviewed, _errors) { StartSeq = _startSeq };
    }
}
