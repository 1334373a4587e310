using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Messages the server does not act on although they were forwarded: the rest of a batch after an error (skipped),
/// Sync and Flush during COPY FROM STDIN (ignored) and any other message then (it ends the copy unrun). What the
/// client side knows of names and of the copy is checked against the server's answers before it decides anything
/// by it (docs/design/statement-path.md).
/// </summary>
internal sealed partial class ClientToServerPump
{
    // The batch (ledger.Batch when it was sent) of the last message that changed what the client side knows of a
    // statement (Parse) or portal (Bind) name. Within a batch that knowledge is safe (if the server skips or refuses
    // the change, it skips what follows too); from a later batch it is checked against the server's answers first.
    private readonly Dictionary<string, long> _statementBatch = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _portalBatch = new(StringComparer.Ordinal);

    private bool BindsUnsettledStatement(ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        return _statementBatch.Count > 0 && reader.TryReadCStringBytes(out _) && reader.TryReadCStringBytes(out var raw) && TryServerName(raw, out var statement)
            && Unsettled(_statementBatch, statement);
    }

    private bool ExecutesUnsettledPortal(ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        return reader.TryReadCStringBytes(out var raw) && TryServerName(raw, out var portal) && Unsettled(_portalBatch, portal);
    }

    private bool Unsettled(Dictionary<string, long> changed, string name) =>
        changed.TryGetValue(name, out long batch) && batch < ledger.Batch && !ledger.BatchAnswered(batch);

    /// <summary>
    /// Before a Bind of <paramref name="statement"/>: if an earlier batch changed it, waits until the server answered that batch, then forgets the statement unless the server's is the one Gatehouse decided.
    /// Null when the Bind may go on; else its refusal.
    /// </summary>
    private async ValueTask<Refusal?> SettleStatementAsync(string statement, CancellationToken ct)
    {
        if (_statementBatch.TryGetValue(statement, out long batch) && batch < ledger.Batch)
        {
            await ledger.BatchAnsweredAsync(batch, ct);
        }

        return SettleStatement(statement);
    }

    // Without waiting (a streamed Bind cannot), a statement whose batch is not answered yet is refused.
    private Refusal? SettleStatement(string statement)
    {
        if (!_statementBatch.TryGetValue(statement, out long batch) || batch >= ledger.Batch)
        {
            return null;
        }

        if (!ledger.BatchAnswered(batch))
        {
            return Refusals.StatementNotSettled(statement);
        }

        _statementBatch.Remove(statement);
        if (_statements.TryGetValue(statement, out var known) && !ledger.ServerHasStatement(statement, known))
        {
            _statements.Remove(statement);
            return Refusals.NotTheServersStatement(statement);
        }

        return null;
    }

    /// <summary>Before an Execute of <paramref name="portal"/> bound by an earlier batch: the same check for portals.</summary>
    private async ValueTask SettlePortalAsync(string portal, CancellationToken ct)
    {
        if (!_portalBatch.TryGetValue(portal, out long batch) || batch >= ledger.Batch)
        {
            return;
        }

        await ledger.BatchAnsweredAsync(batch, ct);
        _portalBatch.Remove(portal);
        if (_portals.TryGetValue(portal, out var known) && !ledger.ServerHasPortal(portal, known.Ticket))
        {
            _portals.Remove(portal); // refused below as not bound through Gatehouse
        }
    }

    // A COPY FROM STDIN was sent and the client has not ended it: see Classify and OnCopyWindowAsync.
    private bool _copyOpen;

    private void CopySent(StatementTicket? ticket)
    {
        if (ticket is { CopiesFromClient: > 0 })
        {
            ledger.CopySent(ledger.NextEntry);
            _copyOpen = true;
        }
    }

    /// <summary>
    /// A message other than copy data while a COPY FROM STDIN may run. CopyDone and CopyFail end it. Anything else waits
    /// until the server's answers tell whether the copy started: if it runs, Sync and Flush are dropped (the server
    /// ignores them; passed on, the ledger would wait for a ReadyForQuery that never comes and pair the next
    /// statement's rows with the wrong request) and any other message ends the copy as the server would, failing it
    /// (a CopyFail in its place; the server consumes such a message without running it). Null: handle it as usual.
    /// </summary>
    private async ValueTask<FrameVerdict?> OnCopyWindowAsync(FrontendMessageCode type, CancellationToken ct)
    {
        if (type is FrontendMessageCode.CopyDone or FrontendMessageCode.CopyFail)
        {
            CloseCopy();
            return FrameVerdict.Pass;
        }

        if (await ledger.CopyStartAsync(ct) != StatementLedger.CopyState.Active)
        {
            CloseCopy();
            return null;
        }

        if (type is FrontendMessageCode.Sync or FrontendMessageCode.Flush)
        {
            return FrameVerdict.Drop;
        }

        CloseCopy();
        using var writer = new MessageWriter();
        writer.StartMessage((byte)FrontendMessageCode.CopyFail)
            .WriteCString($"gatehouse: a message of type '{(char)type}' arrived during COPY FROM STDIN and ends the copy").EndMessage();
        Replace(writer.WrittenMemory.Span);
        return FrameVerdict.Replace;
    }

    private void CloseCopy()
    {
        _copyOpen = false;
        ledger.CopyClosed();
    }
}
