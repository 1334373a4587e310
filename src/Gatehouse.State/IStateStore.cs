namespace Gatehouse.State;

/// <summary>
/// Gatehouse's durable state, behind one seam: credential leases, the audit trail and review requests now; policy
/// revisions and notifications later. Each store has one writer that group-commits: writes are queued,
/// and every write queued while the previous transaction committed lands in the next one. An awaited
/// write has committed (or failed on its own); reads see every write whose task has completed.
/// Store failures surface as <see cref="System.Data.Common.DbException"/> (or <see cref="IOException"/>
/// when a SQLite file was deleted or replaced while running).
/// </summary>
public interface IStateStore : IAsyncDisposable
{
    ILeaseStore Leases { get; }

    IAuditStore Audit { get; }

    IReviewStore Reviews { get; }

    /// <summary>Published policy texts shared by instances; null when the store is one instance's own (SQLite).</summary>
    IPolicyDocumentStore? Policies { get; }

    /// <summary>Runs a trivial query; throws (a DbException, IOException) when the store does not answer (for /readyz).</summary>
    Task CheckAsync(CancellationToken ct);

    /// <summary>What the writer has done since the store was opened (for /metrics and tests).</summary>
    StateWriterStats WriterStats { get; }
}

/// <summary>How to open a store, beyond what its URI says.</summary>
public sealed record StateStoreOptions
{
    /// <summary>How durable an awaited write is (config <c>audit.durability</c>); it applies to every write of the store.</summary>
    public AuditDurability Durability { get; init; } = AuditDurability.Process;
}

/// <summary>
/// Counters of a store's writer: writes committed, transactions committed, writes that failed. Fewer
/// <see cref="Transactions"/> than <see cref="Writes"/> is group commit at work; a batch that failed and was
/// retried write by write counts one transaction per write that then committed.
/// </summary>
public readonly record struct StateWriterStats(long Writes, long Transactions, long FailedWrites);
