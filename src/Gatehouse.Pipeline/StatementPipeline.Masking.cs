using Gatehouse.Pipeline.Masking;
using Gatehouse.Sql;

namespace Gatehouse.Pipeline;

/// <summary>The masking step of the statement path: binds the grant's masks to an allowed statement, or refuses it.</summary>
public sealed partial class StatementPipeline
{
    // Under masks, a statement that may run code Gatehouse does not read was decided in this session.
    private bool _hiddenCodeRan;

    private async ValueTask<Submission> WithMasksAsync(StatementTicket ticket, string sql, CancellationToken ct)
    {
        if (MaskRules.For(_grant!) is not { } rules)
        {
            return new Submission(ticket, null);
        }

        if (catalog is null || masker is null)
        {
            return Refused(Refusals.MaskingUnavailable("the grant has masks and this gateway has no masking configured"));
        }

        StatementMasks masks;
        try
        {
            // Sticky from the statement on: what its code left behind stays readable. (The answer is kept on the ticket,
            // where the wire front door asks it again.)
            _hiddenCodeRan |= await RunsHiddenCodeAsync(ticket, ct);

            masks = await StatementMasks.ForAsync(rules, catalog, ticket.Statements, ct, sql, _hiddenCodeRan);
        }
        catch (CatalogUnavailableException ex)
        {
            return Refused(Refusals.MaskingUnavailable("cannot read the catalog of target \"" + session.Target + "\": " + ex.Message));
        }

        if (masks.Laundering is { } laundering)
        {
            return Refused(Refusals.Denied("masking", laundering));
        }

        var copyPlans = new Dictionary<int, CopyOutPlan>();
        for (int i = 0; i < ticket.Statements.Count; i++)
        {
            var statement = ticket.Statements[i];
            bool tainted = masks.IsTainted(i);
            if (statement.Class != StatementClass.CopyOut || !tainted && rules.Detectors.Count == 0)
            {
                continue;
            }

            try
            {
                var (plan, problem) = await CopyOutPlan.ForAsync(masks, catalog, sql, statement, tainted, ct);
                if (plan is null)
                {
                    return Refused(Refusals.Denied("masking", problem!));
                }

                copyPlans[i] = plan;
            }
            catch (CatalogUnavailableException ex)
            {
                return Refused(Refusals.MaskingUnavailable("cannot read the catalog of target \"" + session.Target + "\": " + ex.Message));
            }
        }

        masks.CopyPlans = copyPlans;
        return new Submission(ticket.WithMasks(masks, catalog), null);
    }
}
