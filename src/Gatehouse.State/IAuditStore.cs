namespace Gatehouse.State;

/// <summary>
/// One record of the audit trail as stored. The store keeps it verbatim: it never computes or checks
/// <see cref="Mac"/> (the chain is Gatehouse.Audit's business), and <see cref="Body"/> is canonical JSON
/// written once and never rewritten. (<see cref="Chain"/>, <see cref="Seq"/>) is unique; a chain's
/// sequence numbers start at 1 and have no gaps unless retention pruned the start of it.
/// </summary>
public sealed record AuditRow(
    string Chain,
    long Seq,
    DateTimeOffset Time,
    string Kind,
    string? SessionId,
    string Body,
    byte[] Mac);

/// <summary>
/// Where a pruned chain now starts: the last pruned record's sequence number and MAC, signed with the
/// audit key (by Gatehouse.Audit), so the rest stays verifiable and an attacker cannot move the start.
/// </summary>
public sealed record AuditAnchor(string Chain, long Seq, byte[] Mac, DateTimeOffset Time, byte[] Signature);

/// <summary>
/// Which records to read, in time order (then chain, seq). Every filter is optional; <see cref="Kinds"/>
/// empty means all kinds. <see cref="Limit"/> caps the rows returned.
/// </summary>
public sealed record AuditQuery(
    DateTimeOffset? Since = null,
    DateTimeOffset? Until = null,
    string? SessionId = null,
    IReadOnlyList<string>? Kinds = null,
    int? Limit = null);

/// <summary>
/// The audit trail's storage: append-only rows in chains, plus retention anchors. Appends go through the
/// store's one writer (group commit); an awaited append is durable to the store's
/// <see cref="AuditDurability"/>. Store failures surface as exceptions (DbException, IOException).
/// </summary>
public interface IAuditStore
{
    /// <summary>Appends <paramref name="rows"/> in one transaction: all of them or none.</summary>
    Task AppendAsync(IReadOnlyList<AuditRow> rows, CancellationToken ct);

    /// <summary>The chains that have rows or an anchor, in no particular order.</summary>
    Task<IReadOnlyList<string>> ChainsAsync(CancellationToken ct);

    /// <summary>The chain's row with the highest seq, or null when it has none (journal recovery continues after it).</summary>
    Task<AuditRow?> LastAsync(string chain, CancellationToken ct);

    /// <summary>A chain's rows with seq greater than <paramref name="afterSeq"/>, in seq order, streamed.</summary>
    IAsyncEnumerable<AuditRow> ReadChainAsync(string chain, long afterSeq, CancellationToken ct);

    /// <summary>Rows matching <paramref name="query"/>, in time order, streamed.</summary>
    IAsyncEnumerable<AuditRow> ReadAsync(AuditQuery query, CancellationToken ct);

    /// <summary>The chain's retention anchor, or null when nothing of it was pruned.</summary>
    Task<AuditAnchor?> ReadAnchorAsync(string chain, CancellationToken ct);

    /// <summary>
    /// Deletes the chain's rows with seq ≤ <paramref name="anchor"/>.Seq and stores the anchor in their
    /// place, in one transaction. Returns the number of rows deleted.
    /// </summary>
    Task<long> PruneAsync(AuditAnchor anchor, CancellationToken ct);
}

/// <summary>How durable an awaited write is (config <c>audit.durability</c>).</summary>
public enum AuditDurability
{
    /// <summary>Survives a Gatehouse crash: handed to the OS (SQLite WAL, synchronous=NORMAL) or committed by the server (PostgreSQL, synchronous_commit=off).</summary>
    Process,

    /// <summary>Also survives an OS crash: fsync per group commit (SQLite synchronous=FULL; PostgreSQL synchronous_commit=on).</summary>
    Os,
}
