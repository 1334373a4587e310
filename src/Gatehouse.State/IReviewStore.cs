namespace Gatehouse.State;

/// <summary>Where a review request stands. Only <see cref="Pending"/> can be decided; only <see cref="Approved"/> can be used.</summary>
public enum ReviewStatus
{
    Pending,
    Approved,
    Rejected,
    Expired,
    Withdrawn,
    Used,
}

/// <summary>
/// One review request as stored: who asked to run what (SQL text and bound parameters, and their fingerprint:
/// an approval is for exactly that statement with exactly those values), why it needs review, and its state.
/// <see cref="Approvals"/> counts distinct approvers so far; <see cref="Required"/> is how many it needs.
/// </summary>
public sealed record ReviewRecord(
    string Id,
    string Fingerprint,
    string Subject,
    string Issuer,
    string Target,
    string Session,
    string Sql,
    IReadOnlyList<string?> Parameters,
    string Rule,
    string Reason,
    string Mode,
    DateTimeOffset Created,
    DateTimeOffset Expires,
    ReviewStatus Status,
    int Required,
    int Approvals,
    string Instance,
    DateTimeOffset? Decided = null,
    string? DecisionReason = null);

/// <summary>One reviewer's vote on a request.</summary>
public sealed record ReviewVote(string ReviewId, string Reviewer, string ReviewerIssuer, bool Approve, string? Reason, DateTimeOffset Time);

/// <summary>What a vote did: the request after it, or why it was not counted.</summary>
public sealed record ReviewVoteResult(ReviewRecord? Review, string? Error)
{
    public bool Counted => Error is null;
}

/// <summary>
/// Review requests in the state store, shared by every instance on it. Every state change is one conditional
/// write, so concurrent decisions resolve to exactly one outcome: a vote counts only on a pending, unexpired
/// request; a reviewer votes at most once; a rejection decides at once; the approval that reaches
/// <see cref="ReviewRecord.Required"/> decides; <see cref="UseAsync"/> succeeds for one caller only.
/// </summary>
public interface IReviewStore
{
    Task InsertAsync(ReviewRecord review, CancellationToken ct);

    Task<ReviewRecord?> GetAsync(string id, CancellationToken ct);

    /// <summary>Requests, newest first; <paramref name="status"/> null means all.</summary>
    Task<IReadOnlyList<ReviewRecord>> ListAsync(ReviewStatus? status, int limit, CancellationToken ct);

    /// <summary>
    /// Counts one vote (see the interface summary for the rules); <paramref name="now"/> decides expiry. A vote
    /// that does not count changes nothing; its error is one line: "review ID does not exist", "… is already
    /// approved" (rejected, expired, withdrawn, used), "… has expired", "review ID: NAME already voted", or
    /// "… cannot be approved by the identity that asked for it" (the requester may reject, never approve).
    /// </summary>
    Task<ReviewVoteResult> VoteAsync(ReviewVote vote, DateTimeOffset now, CancellationToken ct);

    /// <summary>The votes cast on a request, in order.</summary>
    Task<IReadOnlyList<ReviewVote>> VotesAsync(string id, CancellationToken ct);

    /// <summary>Moves a pending request to <paramref name="to"/> (Withdrawn, Expired); false when it was no longer pending.</summary>
    Task<bool> CloseAsync(string id, ReviewStatus to, string reason, DateTimeOffset now, CancellationToken ct);

    /// <summary>An approved, unexpired request with this fingerprint, or null (async mode: the agent re-sends the statement).</summary>
    Task<ReviewRecord?> FindApprovedAsync(string fingerprint, DateTimeOffset now, CancellationToken ct);

    /// <summary>A pending, unexpired request with this fingerprint, or null (async mode: a re-sent statement reuses its request).</summary>
    Task<ReviewRecord?> FindPendingAsync(string fingerprint, DateTimeOffset now, CancellationToken ct);

    /// <summary>Marks an approved request used; true for exactly one caller (an approval runs its statement once).</summary>
    Task<bool> UseAsync(string id, DateTimeOffset now, CancellationToken ct);

    /// <summary>Pending, unexpired requests of one identity (the per-identity cap).</summary>
    Task<int> CountPendingAsync(string subject, string issuer, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Completes when a request may have changed (a decision here or, on PostgreSQL, on another instance through
    /// LISTEN/NOTIFY), or when <paramref name="ct"/> fires; callers re-read the request. May complete spuriously.
    /// </summary>
    Task WaitForChangeAsync(CancellationToken ct);

    /// <summary>Starts hearing other instances' changes now rather than at the first wait, so the first held statement misses none.</summary>
    void Listen();
}
