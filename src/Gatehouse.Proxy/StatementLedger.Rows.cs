using Gatehouse.Pipeline;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Server side: which ticket a result belongs to, and how its rows and copy data are masked and captured.
/// </summary>
internal sealed partial class StatementLedger
{
    /// <summary>Server side: the ticket whose response is arriving now (the query, or the executing portal's statement).</summary>
    public StatementTicket? CurrentTicket()
    {
        if (OutOfStep || !Head(out var head))
        {
            return null;
        }

        return head.Kind switch
        {
            Kind.Query => head.Ticket,
            Kind.Execute => _portals.GetValueOrDefault(head.Portal!)?.Ticket,
            Kind.Describe => head.Ticket,
            _ => null,
        };
    }

    /// <summary>Server side: the server is running a portal whose Bind it never confirmed to Gatehouse (or the ledger lost step).</summary>
    public bool ExecutesUnknownPortal() => OutOfStep || (Head(out var head) && head.Kind == Kind.Execute && !_portals.ContainsKey(head.Portal!));

    /// <summary>
    /// Server side: how the DataRows arriving now must be treated. Null: pass them. A plan: rewrite them. Throws
    /// <see cref="MaskingException"/> when rows of a statement with masks arrive and no plan could be bound (the
    /// result is then refused rather than passed).
    /// </summary>
    public ColumnPlan? RowPlan()
    {
        if (!Head(out var head))
        {
            return Unattributed();
        }

        if (head.Kind == Kind.Query)
        {
            if (_queryPlan is null && head.Ticket?.Masks is not null)
            {
                throw new MaskingException("rows arrived without a row description");
            }

            return _queryPlan is { IsPassThrough: false } plan ? plan : null;
        }

        if (head.Kind == Kind.Execute)
        {
            if (_portals.GetValueOrDefault(head.Portal!) is not { } portal)
            {
                // The server runs a portal whose Bind it never confirmed to Gatehouse (the Bind failed, say, because a
                // cursor of that name existed): whatever it returns was not decided by the statement Gatehouse knows.
                return SessionHasMasks?.Invoke() == true ? throw new MaskingException("rows arrived for a portal Gatehouse did not see bound") : null;
            }

            if (portal.Ticket?.Masks is null)
            {
                return null;
            }

            if (portal.Plan is null || !portal.FormatsKnown)
            {
                throw new MaskingException(portal.FormatsKnown ? "the portal's columns were not described" : "the result formats of a Bind above the inspection limit are not known");
            }

            return portal.Plan.IsPassThrough ? null : portal.Plan;
        }

        return Unattributed();
    }

    // Rows or copy data while the server owes no Query or Execute: under masks they are refused, never passed raw.
    private ColumnPlan? Unattributed() =>
        (OutOfStep && _masked) || SessionHasMasks?.Invoke() == true ? throw new MaskingException("responses could not be paired with statements") : null;

    /// <summary>
    /// Server side: where a DataRow of <paramref name="frameLength"/> bytes arriving now is recorded as the client
    /// receives it (its ticket records results and the bounds leave room); null: it is not.
    /// </summary>
    public ResultCapture? RowCapture(long frameLength)
    {
        if (OutOfStep || !Head(out var head))
        {
            return null;
        }

        ResultCapture? capture = null;
        if (head.Kind == Kind.Query)
        {
            capture = head.Ticket?.Result;
        }
        else if (head.Kind == Kind.Execute && _portals.GetValueOrDefault(head.Portal!) is { Ticket.Result: { } portalCapture })
        {
            capture = portalCapture;
            if (!capture.Described && _portalShapes?.GetValueOrDefault(head.Portal!) is { } shape)
            {
                capture.Describe(shape);
            }
        }

        return capture is not null && capture.Wants(frameLength) ? capture : null;
    }

    /// <summary>
    /// Server side: a CopyOutResponse arrived. The plan to rewrite its stream by, or null to pass it (the statement
    /// needs no masking). Throws <see cref="MaskingException"/> when a statement with masks copies out and no plan was made.
    /// </summary>
    public CopyOutPlan? CopyPlan()
    {
        if (OutOfStep && _masked)
        {
            throw new MaskingException("responses could not be paired with statements");
        }

        if (OutOfStep || !Head(out var head) || head.Kind is not (Kind.Query or Kind.Execute))
        {
            return SessionHasMasks?.Invoke() == true ? throw new MaskingException("copy data arrived for no statement Gatehouse knows of") : null;
        }

        var (ticket, index) = head.Kind switch
        {
            Kind.Query => (head.Ticket, _statementIndex),
            _ => (_portals.GetValueOrDefault(head.Portal!)?.Ticket, 0),
        };
        if (ticket?.Masks is not { } masks)
        {
            return null;
        }

        _masked = true;
        return masks.CopyPlans.GetValueOrDefault(index);
    }

    /// <summary>
    /// Server side: a RowDescription arrived. Binds the column plan of the statement it describes. Returns true when
    /// the frame must be dropped (it answers a Describe that Gatehouse injected).
    /// </summary>
    public async ValueTask<bool> OnRowDescriptionAsync(ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        if (OutOfStep || !Head(out var head))
        {
            return false;
        }

        var ticket = head.Kind switch
        {
            Kind.Query => head.Ticket,
            Kind.Describe when head.Target == (byte)'P' => _portals.GetValueOrDefault(head.Name!)?.Ticket ?? head.Ticket,
            _ => null,
        };
        if (head.Kind == Kind.Describe)
        {
            Pop();
        }

        if (ticket?.Masks is not { } masks)
        {
            if (ticket?.Result is not null && ResultMessages.ReadRowDescription(frame.Span[FrameHeader.Size..]) is { } described)
            {
                Shape(head, ticket, ResultShape.Of(described, null));
            }

            return head.Injected;
        }

        _masked = true;
        var columns = ResultMessages.ReadRowDescription(frame.Span[FrameHeader.Size..]) ?? throw new MaskingException("malformed row description");
        ColumnPlan plan;
        try
        {
            plan = await masks.BindAsync(columns, ct, head.Kind == Kind.Query ? _statementIndex : -1);
        }
        catch (CatalogUnavailableException ex)
        {
            throw new MaskingException("cannot read the catalog: " + ex.Message);
        }

        if (plan.Denied is { } denied)
        {
            throw new MaskingException(denied, denied: true);
        }

        ticket.AddMaskedColumns(plan.Describe(columns));
        if (ticket.Result is not null)
        {
            Shape(head, ticket, ResultShape.Of(columns, plan));
        }

        if (head.Kind == Kind.Query)
        {
            _queryPlan = plan;
        }
        else if (_portals.GetValueOrDefault(head.Name!) is { } portal)
        {
            portal.Plan = portal.FormatsKnown ? plan.WithFormats(portal.Formats) : plan;
        }

        return head.Injected;
    }

    private bool _masked;

    // A recorded result's columns: a query's result set begins now; a portal's is kept for its Execute.
    private void Shape(in Entry head, StatementTicket ticket, ResultShape shape)
    {
        if (head.Kind == Kind.Query)
        {
            ticket.Result!.Describe(shape);
        }
        else
        {
            (_portalShapes ??= new(StringComparer.Ordinal))[head.Name!] = shape;
        }
    }
}
