using Gatehouse.Sql;

namespace Gatehouse.Pipeline;

/// <summary>One admitted session, whichever front door it came through: who, where, and what its SQL session remembers.</summary>
public sealed class SessionContext(string id, Principal principal, string target, FrontDoor frontDoor, string upstreamUser)
{
    public string Id { get; } = id;

    public Principal Principal { get; } = principal;

    public string Target { get; } = target;

    public FrontDoor FrontDoor { get; } = frontDoor;

    /// <summary>The short-lived role the session runs as upstream.</summary>
    public string UpstreamUser { get; } = upstreamUser;

    /// <summary>Prepared statements and cursors, changed only by statements the server ran (<see cref="StatementTicket.Commit"/>).</summary>
    internal SqlSessionState Sql { get; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>What the session does now, for the live sessions view: swapped once per statement, never locked.</summary>
    public SessionActivity Activity => Volatile.Read(ref _activity);

    private SessionActivity _activity = new(null, null, null);

    /// <summary>Why the session ended, when something other than the client ended it (recorded in session.end).</summary>
    public string? EndReason { get; set; }

    /// <summary>This session's statements so far, counted as the audit trail counts them.</summary>
    public SessionCounts Counts { get; } = new();

    internal void Began(string sql) => Volatile.Write(ref _activity, new SessionActivity(sql, Time.GetUtcNow(), null));

    /// <summary>The pipeline's answer to the last statement: counted; a refused one leaves the session idle.</summary>
    internal void Decided(Submission submission)
    {
        Counts.Count(submission.Ticket is not null ? "allow" : submission.Refusal?.Kind == RefusalKind.ReviewRequired ? "review" : "deny");
        if (submission.Ticket is null)
        {
            Finished();
        }
    }

    internal void Finished(bool failed = false)
    {
        if (failed)
        {
            Interlocked.Increment(ref Counts.ErrorCount);
        }

        Volatile.Write(ref _activity, Activity with { IdleSince = Time.GetUtcNow() });
    }
}

/// <summary>A session's statements by decision, and executions that failed; each written by the session alone.</summary>
public sealed class SessionCounts
{
    internal long AllowedCount;
    internal long DeniedCount;
    internal long ReviewedCount;
    internal long ErrorCount;

    public long Statements => Allowed + Denied + Reviewed;

    public long Allowed => Interlocked.Read(ref AllowedCount);

    public long Denied => Interlocked.Read(ref DeniedCount);

    public long Reviewed => Interlocked.Read(ref ReviewedCount);

    public long Errors => Interlocked.Read(ref ErrorCount);

    internal void Count(string decision)
    {
        switch (decision)
        {
            case "allow": Interlocked.Increment(ref AllowedCount); break;
            case "review": Interlocked.Increment(ref ReviewedCount); break;
            default: Interlocked.Increment(ref DeniedCount); break;
        }
    }
}

/// <summary>The statement a session last submitted, when, and since when it has been idle (null while it runs).</summary>
public sealed record SessionActivity(string? Sql, DateTimeOffset? Since, DateTimeOffset? IdleSince);
