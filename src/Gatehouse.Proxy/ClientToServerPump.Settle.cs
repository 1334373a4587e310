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
    // What the client side knows of a statement (Parse) or portal (Bind) name, by the batch that last changed it.
    // Within a batch that knowledge is safe (if the server skips or refuses the change, it skips what follows too);
    // from a later batch it is checked against the server's answers first.
    private readonly NameChanges _statementChanges = new(ledger);
    private readonly NameChanges _portalChanges = new(ledger);

    /// <summary>
    /// Names changed by a batch (ledger.Batch when the message was sent), and the latest two batches that changed any:
    /// since batches are answered in order, whether any name of an earlier batch may still wait for its answer is one
    /// comparison, so Binds and Executes are read name by name only while one may.
    /// </summary>
    private sealed class NameChanges(StatementLedger ledger)
    {
        private readonly Dictionary<string, long> _batch = new(StringComparer.Ordinal);
        private long _latest = -1, _beforeLatest = -1;

        public void Changed(string name)
        {
            long batch = ledger.Batch;
            _batch[name] = batch;
            if (batch != _latest)
            {
                (_beforeLatest, _latest) = (_latest, batch);
            }
        }

        /// <summary>Some name was changed by an earlier batch the server has not answered yet.</summary>
        public bool MayBeUnsettled
        {
            get
            {
                long earlier = _latest < ledger.Batch ? _latest : _beforeLatest;
                return earlier >= 0 && _batch.Count > 0 && !ledger.BatchAnswered(earlier);
            }
        }

        /// <summary>The batch before this one that last changed <paramref name="name"/>, if one did.</summary>
        public bool ChangedEarlier(string name, out long batch) => _batch.TryGetValue(name, out batch) && batch < ledger.Batch;

        public bool Unsettled(string name) => ChangedEarlier(name, out long batch) && !ledger.BatchAnswered(batch);

        public void Settled(string name) => _batch.Remove(name);

        /// <summary>A change of <paramref name="name"/> was sent, in this batch or an earlier one, and is not answered yet.</summary>
        public bool Unanswered(string name)
        {
            if (!_batch.TryGetValue(name, out long batch))
            {
                return false;
            }

            if (ledger.BatchAnswered(batch))
            {
                _batch.Remove(name);
                return false;
            }

            return true;
        }

        /// <summary>Forgets every change once the server has answered the latest batch that made one (they are all settled).</summary>
        public void ForgetAnswered()
        {
            if (_batch.Count > 0 && _latest < ledger.Batch && ledger.BatchAnswered(_latest))
            {
                _batch.Clear();
            }
        }

        /// <summary>The latest batch before this one that changed a name, when the server has not answered it yet.</summary>
        public bool EarlierUnanswered(out long batch)
        {
            batch = _latest < ledger.Batch ? _latest : _beforeLatest;
            return batch >= 0 && _batch.Count > 0 && !ledger.BatchAnswered(batch);
        }
    }

    // A Bind that may wait in OnFrameAsync: of a statement held for review, or of one an unanswered earlier batch changed.
    private bool BindMayWait(ReadOnlySpan<byte> body)
    {
        bool unsettled = _statementChanges.MayBeUnsettled;
        if (!_reviewing && !unsettled)
        {
            return false;
        }

        var reader = new PayloadReader(body);
        return reader.TryReadCStringBytes(out _) && reader.TryReadCStringBytes(out var raw) && TryServerName(raw, out var statement)
            && ((_reviewing && _statements.GetValueOrDefault(statement) is { NeedsReview: true }) || (unsettled && _statementChanges.Unsettled(statement)));
    }

    private bool ExecuteMayWait(ReadOnlySpan<byte> body)
    {
        if (!_portalChanges.MayBeUnsettled)
        {
            return false;
        }

        var reader = new PayloadReader(body);
        return reader.TryReadCStringBytes(out var raw) && TryServerName(raw, out var portal) && _portalChanges.Unsettled(portal);
    }

    /// <summary>
    /// Before a Bind of <paramref name="statement"/>: if an earlier batch changed it, waits until the server answered
    /// that batch, then forgets the statement unless the server's is the one Gatehouse decided. Null when the Bind may
    /// go on; else its refusal.
    /// </summary>
    private async ValueTask<Refusal?> SettleStatementAsync(string statement, CancellationToken ct)
    {
        if (_statementChanges.ChangedEarlier(statement, out long batch))
        {
            await ledger.BatchAnsweredAsync(batch, ct);
        }

        return SettleStatement(statement);
    }

    // Without waiting (a streamed Bind cannot), a statement whose batch is not answered yet is refused.
    private Refusal? SettleStatement(string statement)
    {
        if (!_statementChanges.ChangedEarlier(statement, out long batch))
        {
            return null;
        }

        if (!ledger.BatchAnswered(batch))
        {
            return Refusals.StatementNotSettled(statement);
        }

        _statementChanges.Settled(statement);
        if (_statements.TryGetValue(statement, out var known) && !ledger.ServerHasStatement(statement, known))
        {
            if (ledger.TakeLostReprepare(statement) && CanReprepare(statement))
            {
                // Gatehouse's own Parse of it was refused or skipped (an aborted transaction, an error before it): the
                // client still has the statement, so it is prepared again at this Bind, as if nothing had happened.
                LostOnServer(statement);
                return null;
            }

            _statements.Remove(statement);
            ForgetParse(statement);
            return Refusals.NotTheServersStatement(statement);
        }

        return null;
    }

    /// <summary>Before an Execute of <paramref name="portal"/> bound by an earlier batch: the same check for portals.</summary>
    private async ValueTask SettlePortalAsync(string portal, CancellationToken ct)
    {
        if (!_portalChanges.ChangedEarlier(portal, out long batch))
        {
            return;
        }

        await ledger.BatchAnsweredAsync(batch, ct);
        _portalChanges.Settled(portal);
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
