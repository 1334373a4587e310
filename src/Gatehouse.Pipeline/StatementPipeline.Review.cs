using Gatehouse.Policy.Model;
using Gatehouse.Reviews;
using Gatehouse.Sql;
using Gatehouse.State;

namespace Gatehouse.Pipeline;

/// <summary>
/// The review step of the statement path: a statement a <c>review</c> rule holds runs only with an approval for exactly
/// its text and parameter values. Hold mode waits here for a human decision (other sessions are never blocked: only
/// this session's statement path awaits); async mode refuses at once and lets the same statement run once, later,
/// when it is sent again after approval.
/// </summary>
public sealed partial class StatementPipeline
{
    // Cancelled by the client's CancelRequest while a statement is held: the review is withdrawn.
    private CancellationTokenSource? _hold;

    /// <summary>Tells the front door's user that a statement waits (the wire sends a NoticeResponse).</summary>
    public Func<string, ValueTask>? OnHold { get; set; }

    /// <summary>
    /// Hold mode for a front door whose calls cannot wait as long as <c>reviews.timeout</c> (MCP: <c>mcp.review_wait</c>):
    /// the statement is held at most this long, then refused naming its review, which stays pending; sent again
    /// after approval, it runs once (as in async mode). Null: hold until the review ends.
    /// </summary>
    public TimeSpan? HoldAtMost { get; init; }

    /// <summary>The reviews this gateway runs; null when it has none (review rules are then refused).</summary>
    public ReviewService? Reviews => reviews;

    /// <summary>A statement of this session is held for review now.</summary>
    public bool Holding => Volatile.Read(ref _hold) is not null;

    /// <summary>The client asked to cancel: a held statement's review is withdrawn. False when nothing was held.</summary>
    public bool CancelHold()
    {
        var hold = Volatile.Read(ref _hold);
        if (hold is null)
        {
            return false;
        }

        try
        {
            hold.Cancel();
        }
        catch (ObjectDisposedException)
        {
            return false;
        }

        return true;
    }

    // An approval is for what runs: "EXECUTE name" runs whatever the session prepared under the name (a second session
    // prepared another UPDATE under it and ran it on the first one's approval). The text reviewed, shown and
    // fingerprinted therefore carries each prepared statement's text after the statement itself.
    private static string WithWhatRuns(string sql, IReadOnlyList<Gatehouse.Sql.StatementFacts> statements)
    {
        var runs = statements.Where(s => s.Runs is not null).Select(s => s.Runs!).ToList();
        // Each text as it is (a line break and a space differ where a comment ends), and its length first, so no two
        // different lists of texts give the same string.
        return runs.Count == 0 ? sql : sql + string.Concat(runs.Select(r => $"\n-- EXECUTE runs the prepared statement ({r.Length} characters):\n{r}"));
    }

    /// <summary>
    /// Decides the review of a ticket whose rule needs one, for exactly <paramref name="sql"/> with
    /// <paramref name="parameters"/>. Returns the ticket (approved: it runs, and its audit record names the review) or
    /// the refusal.
    /// </summary>
    public async ValueTask<(StatementTicket? Ticket, Refusal? Refusal)> ReviewAsync(StatementTicket ticket, string sql, IReadOnlyList<string?> parameters, CancellationToken ct)
    {
        var settings = policy.Current.Reviews;
        var decision = ticket.Decision;
        string rule = decision.RuleId ?? "-";
        if (reviews is null || settings is null)
        {
            return (null, Refusals.ReviewRequired(rule, decision.Reason));
        }

        if (ticket.CopiesFromClient > 0)
        {
            // The rows come after the approval, so none of them would be reviewed (a red team had 1,000 rows loaded on
            // the approval of "COPY payments FROM STDIN").
            return (null, Refusals.Denied(rule, "the statement needs review, and COPY … FROM STDIN cannot be reviewed: its rows are sent after the approval; send them as INSERT statements"));
        }

        var principal = session.Principal;
        sql = WithWhatRuns(sql, ticket.Statements);
        // Reviewers, the store and the webhook see the text with its passwords scrubbed, as the audit trail does.
        var request = new ReviewRequest(principal.Subject, principal.Issuer, session.Target, session.Id, sql, parameters, rule, decision.Reason)
        {
            Shown = SqlSecrets.ScrubSql(sql),
            ShownParameters = [.. parameters.Select(p => p is null ? null : SqlSecrets.ScrubValue(p))],
        };
        bool resumable = settings.Mode == ReviewMode.Async || HoldAtMost is not null;
        if (resumable && await reviews.TakeApprovalAsync(request, ct) is { } approved)
        {
            return (await Approved(ticket, approved), null);
        }

        var submitted = await reviews.SubmitAsync(request, ct);
        if (submitted.Review is not { } review)
        {
            return (null, Refusals.ReviewQueueFull(rule, submitted.Refusal!));
        }

        if (settings.Mode == ReviewMode.Async)
        {
            return (null, Refusals.ReviewPending(review.Id, rule, reviews.HowToDecide(review.Id) + "; then send the same statement again"));
        }

        using var hold = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Volatile.Write(ref _hold, hold);
        try
        {
            if (OnHold is { } notice)
            {
                await notice($"gatehouse: statement held for review {review.Id} (rule {rule}); {reviews.HowToDecide(review.Id)}. Waiting up to {(HoldAtMost is { } wait && wait < settings.Timeout ? wait : settings.Timeout)}.");
            }

            var ended = await reviews.WaitAsync(review, HoldAtMost is { } most ? review.Created + most : null, hold.Token);
            // Used up here in every mode: a held statement's approval must not also let the same statement run again
            // through a door that takes approvals (MCP ran it a second time after the wire's hold had run it).
            if (ended.Status == ReviewStatus.Approved && !await reviews.UseAsync(ended, session.Id, CancellationToken.None))
            {
                return (null, Refusals.ReviewUsed(ended.Id, rule));
            }

            return ended.Status switch
            {
                ReviewStatus.Pending => (null, Refusals.ReviewPending(review.Id, rule, reviews.HowToDecide(review.Id) + "; then send the same statement again")),
                ReviewStatus.Approved => (await Approved(ticket, ended), null),
                ReviewStatus.Rejected => (null, Refusals.ReviewRejected(ended.Id, rule, ended.DecisionReason ?? "no reason given")),
                ReviewStatus.Expired => (null, Refusals.ReviewTimedOut(ended.Id, rule, settings.Timeout)),
                _ => (null, Refusals.ReviewWithdrawn(ended.Id, rule)),
            };
        }
        finally
        {
            Volatile.Write(ref _hold, null);
        }
    }

    private async ValueTask<StatementTicket> Approved(StatementTicket ticket, ReviewRecord review)
    {
        var votes = await reviews!.Store.VotesAsync(review.Id, CancellationToken.None);
        ticket.ReviewId = review.Id;
        ticket.Reviewers = string.Join(", ", votes.Where(v => v.Approve).Select(v => v.Reviewer));
        return ticket;
    }
}
