using System.Runtime.CompilerServices;
using Gatehouse.State;

namespace Gatehouse.Audit;

/// <summary>
/// The store as this process's readers (the admin API) should see it: each read first lets the trail store what it
/// has journaled but not yet stored (at most <see cref="AuditTrail.LazyFlush"/> behind), so a statement a client
/// just ran is in the session it shows. Writes go to the store directly.
/// </summary>
public sealed class FlushedAuditStore(IAuditStore store, AuditTrail trail) : IAuditStore
{
    /// <summary>A store that does not answer must not hang a read: after this it reads what is there.</summary>
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(2);

    private async Task FlushAsync(CancellationToken ct)
    {
        try
        {
            await trail.FlushAsync().WaitAsync(FlushTimeout, ct);
        }
        catch (TimeoutException)
        {
            // Read what is stored.
        }
    }

    public Task AppendAsync(IReadOnlyList<AuditRow> rows, CancellationToken ct) => store.AppendAsync(rows, ct);

    public async Task<IReadOnlyList<string>> ChainsAsync(CancellationToken ct)
    {
        await FlushAsync(ct);
        return await store.ChainsAsync(ct);
    }

    public async Task<AuditRow?> LastAsync(string chain, CancellationToken ct)
    {
        await FlushAsync(ct);
        return await store.LastAsync(chain, ct);
    }

    public async IAsyncEnumerable<AuditRow> ReadChainAsync(string chain, long afterSeq, [EnumeratorCancellation] CancellationToken ct)
    {
        await FlushAsync(ct);
        await foreach (var row in store.ReadChainAsync(chain, afterSeq, ct))
        {
            yield return row;
        }
    }

    public async IAsyncEnumerable<AuditRow> ReadAsync(AuditQuery query, [EnumeratorCancellation] CancellationToken ct)
    {
        await FlushAsync(ct);
        await foreach (var row in store.ReadAsync(query, ct))
        {
            yield return row;
        }
    }

    public Task<AuditAnchor?> ReadAnchorAsync(string chain, CancellationToken ct) => store.ReadAnchorAsync(chain, ct);

    public Task<long> PruneAsync(AuditAnchor anchor, CancellationToken ct) => store.PruneAsync(anchor, ct);
}
