using System.Security.Cryptography;
using System.Text.Json;
using Gatehouse.Audit;
using Gatehouse.Policy;
using Gatehouse.Policy.Model;
using Gatehouse.State;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Reviews;

public sealed record ReviewOptions
{
    /// <summary>This gateway instance (reviews name where they were requested).</summary>
    public required string Instance { get; init; }

    /// <summary>How often a waiting statement re-reads its request when no change signal arrives (other instances, SQLite).</summary>
    public TimeSpan PollEvery { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Where reviewers decide (the console), for notices and webhooks; null when there is none.</summary>
    public string? ConsoleUrl { get; init; }

    /// <summary>Called when a vote on this instance decides a request (approved or rejected), for /metrics.</summary>
    public Action<ReviewRecord>? Decided { get; init; }
}

/// <summary>What asks for a review: the statement exactly as it would run, and the rule that holds it.</summary>
public sealed record ReviewRequest(
    string Subject, string Issuer, string Target, string Session, string Sql, IReadOnlyList<string?> Parameters, string Rule, string Reason)
{
    /// <summary>The text reviewers see and the store keeps (passwords scrubbed); the fingerprint is of <see cref="Sql"/>.</summary>
    public string? Shown { get; init; }

    /// <summary>The parameter values reviewers see and the store keeps (scrubbed alike); the fingerprint is of <see cref="Parameters"/>.</summary>
    public IReadOnlyList<string?>? ShownParameters { get; init; }
}

/// <summary>Why a review could not be requested (the cap), or the request.</summary>
public sealed record ReviewSubmission(ReviewRecord? Review, string? Refusal);

/// <summary>
/// The approval workflow, the same for every front door and every instance sharing the store:
/// <code>
///  Submit ─► request stored (pending) ─► webhook (background) ─► Wait: re-read on change signal or poll ─► decided | expired
///  Decide(approver claims) ─► approver identity? not the requester? ─► store.Vote (conditional: exactly one outcome)
///  async mode: re-sent statement ─► FindApproved(fingerprint) ─► Use (exactly once) ─► runs
///              re-sent while pending ─► FindPending(fingerprint) ─► the same request (no new one)
/// </code>
/// Requests and decisions are audit records.
/// </summary>
public sealed class ReviewService(IReviewStore store, PolicyStore policy, ReviewOptions options, TimeProvider time, ILogger logger, AuditTrail? audit = null, ReviewWebhook? webhook = null)
{
    // Async submits of one fingerprint take turns, so two sessions sending the same statement at the same instant
    // find one pending request rather than each inserting its own (striped: unrelated submits rarely share a stripe,
    // and sharing one only makes them take turns).
    private readonly SemaphoreSlim[] _submitting = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];

    public ReviewOptions Options => options;

    public IReviewStore Store => store;

    public async Task<ReviewSubmission> SubmitAsync(ReviewRequest request, CancellationToken ct)
    {
        var settings = policy.Current.Reviews ?? throw new InvalidOperationException("the policy has no reviews section");
        var fingerprint = ReviewFingerprint.Of(request.Subject, request.Issuer, request.Target, request.Sql, request.Parameters);
        if (settings.Mode != ReviewMode.Async)
        {
            return await SubmitNewAsync(request, settings, fingerprint, ct);
        }

        var turn = _submitting[(uint)StringComparer.Ordinal.GetHashCode(fingerprint) % (uint)_submitting.Length];
        await turn.WaitAsync(ct);
        try
        {
            // An agent retrying before anyone decided asks for the same thing again; it gets the same request (one
            // pending request per fingerprint, so a retry loop neither floods reviewers nor fills the cap).
            return await store.FindPendingAsync(fingerprint, time.GetUtcNow(), ct) is { } pending
                ? new ReviewSubmission(pending, null)
                : await SubmitNewAsync(request, settings, fingerprint, ct);
        }
        finally
        {
            turn.Release();
        }
    }

    private async Task<ReviewSubmission> SubmitNewAsync(ReviewRequest request, ReviewSettings settings, string fingerprint, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (await store.CountPendingAsync(request.Subject, request.Issuer, now, ct) >= settings.MaxPending)
        {
            return new ReviewSubmission(null, $"{request.Subject} already has {settings.MaxPending} reviews pending (reviews.max_pending); wait for decisions");
        }

        var review = new ReviewRecord(
            NewId(), fingerprint,
            request.Subject, request.Issuer, request.Target, request.Session, request.Shown ?? request.Sql, request.ShownParameters ?? request.Parameters, request.Rule, request.Reason,
            settings.Mode.ToString().ToLowerInvariant(), now, now + settings.Timeout, ReviewStatus.Pending, settings.Require, 0, options.Instance);
        await store.InsertAsync(review, ct);
        Record("review.request", review.Session, new { review = review.Id, review.Rule, review.Target, review.Subject, review.Fingerprint, expires = review.Expires });
        webhook?.Notify(review, settings.Webhook);
        return new ReviewSubmission(review, null);
    }

    /// <summary>
    /// Waits for a decision or the request's expiry. <paramref name="ct"/> firing (the client cancelled, the session
    /// ended) withdraws the request. Returns the request as it ended, or still pending at <paramref name="until"/>
    /// (a front door that cannot wait as long as the review may take: the request stays pending).
    /// </summary>
    public Task<ReviewRecord> WaitAsync(ReviewRecord review, CancellationToken ct) => WaitAsync(review, null, ct);

    /// <inheritdoc cref="WaitAsync(ReviewRecord, CancellationToken)"/>
    public async Task<ReviewRecord> WaitAsync(ReviewRecord review, DateTimeOffset? until, CancellationToken ct)
    {
        while (true)
        {
            var current = await store.GetAsync(review.Id, CancellationToken.None) ?? review with { Status = ReviewStatus.Withdrawn };
            if (current.Status != ReviewStatus.Pending)
            {
                return current;
            }

            var now = time.GetUtcNow();
            if (now >= current.Expires)
            {
                await store.CloseAsync(review.Id, ReviewStatus.Expired, "timed out", now, CancellationToken.None);
                continue;
            }

            if (ct.IsCancellationRequested && _gatewayStopping)
            {
                return current; // not the client's doing: the request stays pending, decidable after a restart
            }

            if (ct.IsCancellationRequested)
            {
                await store.CloseAsync(review.Id, ReviewStatus.Withdrawn, "withdrawn: the client cancelled or left", now, CancellationToken.None);
                Record("review.withdrawn", review.Session, new { review = review.Id });
                continue;
            }

            if (until is { } stop && now >= stop)
            {
                return current;
            }

            var end = until is { } bound && bound < current.Expires ? bound : current.Expires;
            var wait = options.PollEvery < end - now ? options.PollEvery : end - now;
            using var poll = CancellationTokenSource.CreateLinkedTokenSource(ct);
            poll.CancelAfter(wait);
            try
            {
                await store.WaitForChangeAsync(poll.Token);
            }
            catch (OperationCanceledException)
            {
                // Poll again, or withdraw (checked above).
            }
        }
    }

    /// <summary>Async mode: the approval this exact statement may use, marked used; null when there is none.</summary>
    public async Task<ReviewRecord?> TakeApprovalAsync(ReviewRequest request, CancellationToken ct)
    {
        var fingerprint = ReviewFingerprint.Of(request.Subject, request.Issuer, request.Target, request.Sql, request.Parameters);
        var now = time.GetUtcNow();
        var approved = await store.FindApprovedAsync(fingerprint, now, ct);
        if (approved is null || !await store.UseAsync(approved.Id, now, ct))
        {
            return null;
        }

        Record("review.used", request.Session, new { review = approved.Id });
        return approved;
    }

    /// <summary>
    /// Marks an approval that a bounded hold waited for used, so the same statement sent again needs a new review
    /// (as an async approval is used once). False when another call used it first.
    /// </summary>
    public async Task<bool> UseAsync(ReviewRecord approved, string session, CancellationToken ct)
    {
        if (!await store.UseAsync(approved.Id, time.GetUtcNow(), ct))
        {
            return false;
        }

        Record("review.used", session, new { review = approved.Id });
        return true;
    }

    /// <summary>
    /// One reviewer's decision. The reviewer must match <c>reviews.approvers</c> under the current policy and must not
    /// be the identity that asked; the store counts the vote only on a pending, unexpired request.
    /// </summary>
    public async Task<ReviewVoteResult> DecideAsync(string id, string reviewer, string reviewerIssuer, JsonElement reviewerClaims, bool approve, string? reason, CancellationToken ct)
    {
        var snapshot = policy.Current;
        if (snapshot.Reviews is not { } settings || !snapshot.IsIdentity(reviewerClaims, settings.Approvers))
        {
            return new ReviewVoteResult(null, $"{reviewer} is not an approver (reviews.approvers: {snapshot.Reviews?.Approvers ?? "none"})");
        }

        var review = await store.GetAsync(id, ct);
        if (review is null)
        {
            return new ReviewVoteResult(null, $"no review {id}");
        }

        if (review.Subject == reviewer && review.Issuer == reviewerIssuer)
        {
            return new ReviewVoteResult(review, "an identity cannot approve or reject its own request");
        }

        if (!approve && string.IsNullOrWhiteSpace(reason))
        {
            return new ReviewVoteResult(review, "a rejection needs a reason");
        }

        var result = await store.VoteAsync(new ReviewVote(id, reviewer, reviewerIssuer, approve, reason, time.GetUtcNow()), time.GetUtcNow(), ct);
        if (result.Counted)
        {
            Record("review.decision", review.Session, new { review = id, reviewer, reviewer_issuer = reviewerIssuer, approve, reason, status = result.Review!.Status.ToString().ToLowerInvariant() });
            logger.LogInformation("Review {Id} {Verdict} by {Reviewer}", id, approve ? "approved" : "rejected", reviewer);
            if (result.Review.Status is ReviewStatus.Approved or ReviewStatus.Rejected)
            {
                options.Decided?.Invoke(result.Review);
            }
        }

        return result;
    }

    private volatile bool _gatewayStopping;

    /// <summary>
    /// The gateway is stopping: sessions are about to be cut, and the statements they hold with them; their requests
    /// stay pending (a restart loses none, and a reviewer may still decide them) rather than withdrawn.
    /// </summary>
    public void GatewayStopping() => _gatewayStopping = true;

    /// <summary>Where an approver decides this review, for messages: a command that runs as printed (with the approver's GATEHOUSE_TOKEN).</summary>
    public string HowToDecide(string id) =>
        options.ConsoleUrl is { } url
            ? $"approve it in the console at {url}/#/reviews/{id} or with: gatehouse reviews approve {id} --server {url}"
            : $"approve it with: gatehouse reviews approve {id} --server ADMIN_URL";

    private void Record(string kind, string? session, object body)
    {
        if (audit is null)
        {
            return;
        }

        _ = audit.AppendJson(kind, session, JsonSerializer.Serialize(body, ReviewJson.Options)).ContinueWith(
            t => logger.LogError("Review audit record {Kind} could not be written: {Reason}", kind, t.Exception!.GetBaseException().Message),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    // Short, unguessable, easy to type: r- and 10 base32 characters (50 bits).
    private static string NewId()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
        Span<byte> random = stackalloc byte[10];
        RandomNumberGenerator.Fill(random);
        Span<char> id = stackalloc char[12];
        id[0] = 'r';
        id[1] = '-';
        for (int i = 0; i < 10; i++)
        {
            id[i + 2] = alphabet[random[i] % alphabet.Length];
        }

        return new string(id);
    }
}

internal static class ReviewJson
{
    public static JsonSerializerOptions Options { get; } = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
