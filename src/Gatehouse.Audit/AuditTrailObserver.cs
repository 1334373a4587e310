using System.Diagnostics;
using Gatehouse.State;

namespace Gatehouse.Audit;

/// <summary>Told about each batch of audit records the store accepted (for /metrics: audit write latency).</summary>
public interface IAuditTrailObserver
{
    void OnBatchWritten(int records, TimeSpan elapsed);
}

/// <summary>
/// The audit store as the trail's writer sees it, timing each append (one batch, one transaction) for an
/// <see cref="IAuditTrailObserver"/>; a failed append is not observed (the trail counts failed records).
/// Every other call passes through.
/// </summary>
public sealed class ObservedAuditStore(IAuditStore inner, IAuditTrailObserver observer) : IAuditStore
{
    public async Task AppendAsync(IReadOnlyList<AuditRow> rows, CancellationToken ct)
    {
        long started = Stopwatch.GetTimestamp();
        await inner.AppendAsync(rows, ct);
        observer.OnBatchWritten(rows.Count, Stopwatch.GetElapsedTime(started));
    }

    public Task<IReadOnlyList<string>> ChainsAsync(CancellationToken ct) => inner.ChainsAsync(ct);

    public IAsyncEnumerable<AuditRow> ReadChainAsync(string chain, long afterSeq, CancellationToken ct) => inner.ReadChainAsync(chain, afterSeq, ct);

    public IAsyncEnumerable<AuditRow> ReadAsync(AuditQuery query, CancellationToken ct) => inner.ReadAsync(query, ct);

    public Task<AuditAnchor?> ReadAnchorAsync(string chain, CancellationToken ct) => inner.ReadAnchorAsync(chain, ct);

    public Task<long> PruneAsync(AuditAnchor anchor, CancellationToken ct) => inner.PruneAsync(anchor, ct);
}
