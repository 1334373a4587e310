using Gatehouse.Pipeline;
using Gatehouse.Sql;

namespace Gatehouse.Proxy;

/// <summary>
/// Statements that run another by name (<c>EXECUTE p</c>, <c>FETCH c</c>) are decided on what the name means when they
/// are analyzed, and the server runs what it means when they execute. A red team prepared <c>x</c> as <c>EXECUTE p</c>
/// while <c>p</c> was harmless, then closed and prepared <c>p</c> again as a write a review rule holds, and ran it
/// through <c>x</c> unreviewed. So: every message that may change what a name means counts as a change; a statement
/// that looked a name up is decided again at its Bind after one, and a portal of it is bound again; and while such a
/// message is unanswered the name is unknown to the analyzer (the session state follows the server's answers).
/// </summary>
internal sealed partial class ClientToServerPump
{
    // Prepared statement names changed by messages sent (named Parse, Close, PREPARE, DEALLOCATE), by batch.
    private readonly NameChanges _preparedNames = new(ledger);

    // The batch of the latest DEALLOCATE ALL or DISCARD ALL sent; -1: none.
    private long _allPreparedChangedAt = -1;

    private bool _watchingNames;

    // A statement prepared through the protocol looked a name up (EXECUTE p): every Bind is read whole from then on.
    private bool _followsNames;

    private void WatchPreparedNames()
    {
        _watchingNames = true;
        pipeline!.WatchPreparedNames(PreparedNameChanging);
    }

    private bool PreparedNameChanging(string name) =>
        (_allPreparedChangedAt >= 0 && !ledger.BatchAnswered(_allPreparedChangedAt)) || _preparedNames.Unanswered(name);

    /// <summary>A message that may change what prepared statement <paramref name="name"/> means (null: every one) is sent.</summary>
    private void PreparedNameSent(string? name)
    {
        pipeline!.NameChangeSent();
        if (name is null)
        {
            _allPreparedChangedAt = ledger.Batch;
        }
        else
        {
            _preparedNames.ForgetAnswered();
            _preparedNames.Changed(name);
        }
    }

    /// <summary>The session effects of <paramref name="ticket"/>'s statements are being sent to run.</summary>
    private void NameEffectsSent(StatementTicket? ticket)
    {
        if (ticket is null)
        {
            return;
        }

        foreach (var statement in ticket.Statements)
        {
            foreach (var effect in statement.Effects)
            {
                switch (effect)
                {
                    case SessionEffect.Prepare p:
                        PreparedNameSent(p.Name);
                        break;
                    case SessionEffect.Deallocate d:
                        PreparedNameSent(d.Name);
                        break;
                    case SessionEffect.DeclareCursor or SessionEffect.CloseCursor:
                        pipeline!.NameChangeSent();
                        break;
                }
            }
        }
    }

    /// <summary>
    /// Before a Query or Parse is analyzed: when an earlier batch the server has not answered changed a prepared name
    /// and the text may execute one, wait for that answer, so the analysis sees what the name means on the server
    /// (without waiting, the name is unknown and the statement refused).
    /// </summary>
    private async ValueTask SettlePreparedNamesAsync(string sql, CancellationToken ct)
    {
        if (PreparedNamesUnsettled(out long batch) && sql.Contains("execute", StringComparison.OrdinalIgnoreCase))
        {
            await ledger.BatchAnsweredAsync(batch, ct);
        }
    }

    /// <summary>An earlier batch that changed a prepared name is not answered yet: the latest such batch.</summary>
    private bool PreparedNamesUnsettled(out long batch)
    {
        batch = _preparedNames.EarlierUnanswered(out long changed) ? changed : -1;
        if (_allPreparedChangedAt >= 0 && _allPreparedChangedAt < ledger.Batch && !ledger.BatchAnswered(_allPreparedChangedAt))
        {
            batch = Math.Max(batch, _allPreparedChangedAt);
        }

        return batch >= 0;
    }
}
