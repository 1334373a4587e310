using System.Collections.Concurrent;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Pairs each refusal the client pump sent (as <see cref="RefusalStatement"/>) with the server's syntax error for it,
/// so the server pump can put Gatehouse's error in its place. Refusals are numbered by the batch they belong to:
/// the count of Sync/Query/FunctionCall messages sent before them, each of which the server answers with one
/// ReadyForQuery. A refusal whose batch ended without its error (the server skipped it after an earlier error in
/// the same batch) is dropped at that ReadyForQuery, as the client would never have seen an error for it either.
/// </summary>
internal sealed class RefusalTracker
{
    private readonly ConcurrentQueue<(long Batch, string SqlState, string Message)> _pending = new();

    // Written by the client pump only.
    private long _readySent;

    // Written by the server pump only.
    private long _readySeen;

    /// <summary>Client side: the client's messages up to the next Sync are being dropped.</summary>
    public bool DiscardingUntilSync { get; set; }

    /// <summary>Client side: a Sync, Query or FunctionCall went out; the server will answer with ReadyForQuery.</summary>
    public void ExpectReady() => Interlocked.Increment(ref _readySent);

    /// <summary>Client side: the refusal text went out in place of a client message.</summary>
    public void Refused(string sqlState, string message) => _pending.Enqueue((Volatile.Read(ref _readySent), sqlState, message));

    /// <summary>Server side: the client-facing error when <paramref name="error"/> answers a pending refusal, else null.</summary>
    public byte[]? Replace(ErrorFields error)
    {
        if (_pending.TryPeek(out var refusal) && refusal.Batch == _readySeen && RefusalStatement.IsAnswer(error))
        {
            _pending.TryDequeue(out _);
            return RefusalStatement.ClientError(refusal.SqlState, refusal.Message);
        }

        return null;
    }

    /// <summary>Server side: a ReadyForQuery passed; the batch it ends is answered or skipped.</summary>
    public void Ready()
    {
        while (_pending.TryPeek(out var refusal) && refusal.Batch <= _readySeen)
        {
            _pending.TryDequeue(out _);
        }

        _readySeen++;
    }
}
