using Gatehouse.Audit;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Sql;

namespace Gatehouse.Pipeline;

/// <summary>The audit step of the statement path: every decided statement is recorded before the front door acts on it.</summary>
public sealed partial class StatementPipeline
{
    // What the last Decide analyzed and decided, so a refused statement is recorded with its facts too.
    private (IReadOnlyList<StatementFacts>? Statements, PolicyDecision? Decision) _decided;

    /// <summary>
    /// A protocol message the front door refused with no statement to decide (a Bind or Execute of a name Gatehouse does
    /// not know, a fastpath call): logged like a refused statement and recorded in the trail, <paramref name="what"/>
    /// standing for its SQL. Nothing ran, so a record that cannot be written is only logged.
    /// </summary>
    public async Task RefusedMessageAsync(string what, Refusal refusal)
    {
        Refused(refusal);
        if (audit is null)
        {
            return;
        }

        try
        {
            await audit.RecordStatement(++_nextTicket, StatementRequest.Query(what), null, refusal, null, null, null);
        }
        catch (AuditUnavailableException ex)
        {
            PipelineLog.AuditFailed(logger, ex.Message);
        }
    }

    /// <summary>A front door withheld a result because its record could not be written: the reason goes to the log.</summary>
    public void AuditFailed(string reason) => PipelineLog.AuditFailed(logger, reason);

    private async ValueTask<Submission> RecordAsync(StatementRequest request, Submission submission, StatementTicket? decidedTicket, CancellationToken ct)
    {
        var rules = _grant is { } grant ? MaskRules.For(grant) : null;
        var (statements, decided) = _decided;
        _decided = default;
        var decision = submission.Ticket?.Decision ?? decidedTicket?.Decision;
        // A statement decided and then refused (masking, review) keeps the number it was given: the trail has no gaps.
        long number = submission.Ticket?.Id ?? decidedTicket?.Id ?? ++_nextTicket;
        var recorded = audit!.RecordStatement(
            number, request, submission.Ticket?.Statements ?? statements, submission.Refusal, decision ?? decided, rules, masker,
            submission.Ticket is { ReviewId: { } review } ? (review, submission.Ticket.Reviewers) : null);
        if (submission.Ticket is not { } ticket)
        {
            return submission;
        }

        ticket.Recorded = recorded;
        ticket.OnComplete = (t, outcome) => audit.RecordOutcome(t, outcome, rules, masker);
        if (audit.Trail.Healthy || audit.FailOpen)
        {
            // Forwarded now; the front door holds the result until the record is durable (SessionAudit.BarrierAsync).
            return submission;
        }

        // The last write failed: this record must be durable before anything runs, or the statement is refused.
        try
        {
            await recorded.WaitAsync(ct);
            return submission;
        }
        catch (AuditUnavailableException ex)
        {
            // The reason (a store path, a server's message) is for the operator's log, not the agent.
            PipelineLog.AuditFailed(logger, ex.Message);
            await audit.BarrierAsync();
            var refusal = Refusals.AuditUnavailable(Refusals.AuditUnwritable);

            // The record keeps its place in the chain and reaches the store when it returns: say what became of it.
            ticket.Complete(new StatementOutcome(false, null, refusal.SqlState, refusal.Message));
            return Refused(refusal);
        }
    }
}
