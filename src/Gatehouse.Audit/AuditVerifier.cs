using Gatehouse.State;

namespace Gatehouse.Audit;

/// <summary>Where a chain breaks: the first record that is missing, altered or out of place.</summary>
public sealed record AuditBreak(string Chain, long Seq, string What)
{
    public override string ToString() => $"chain {Chain} record {Seq}: {What}";
}

/// <summary>The result of walking every chain. <see cref="Notes"/> are not breaks (a chain still being written, or cut by a crash).</summary>
public sealed record AuditVerification(int Chains, long Records, IReadOnlyList<AuditBreak> Breaks, IReadOnlyList<string> Notes)
{
    public bool Intact => Breaks.Count == 0;
}

/// <summary>
/// Walks each chain once, in sequence order, recomputing every MAC from its predecessor's: linear time, one row in
/// memory at a time. A chain that retention cut starts from its signed anchor. Reports the first break of each chain.
/// What it cannot see: records removed from the end of a chain leave a chain that verifies but has no
/// <c>chain.end</c> record, which is reported as a note, as a crash or a running gateway is.
/// </summary>
public static class AuditVerifier
{
    public static async Task<AuditVerification> VerifyAsync(IAuditStore store, AuditKey key, CancellationToken ct)
    {
        var breaks = new List<AuditBreak>();
        var notes = new List<string>();
        long records = 0;
        var chains = await store.ChainsAsync(ct);
        foreach (var chain in chains.Order(StringComparer.Ordinal))
        {
            var (count, broken, note) = await VerifyChainAsync(store, key, chain, ct);
            records += count;
            if (broken is not null)
            {
                breaks.Add(broken);
            }

            if (note is not null)
            {
                notes.Add(note);
            }
        }

        return new AuditVerification(chains.Count, records, breaks, notes);
    }

    private static async Task<(long Count, AuditBreak? Break, string? Note)> VerifyChainAsync(IAuditStore store, AuditKey key, string chain, CancellationToken ct)
    {
        long expected = 1;
        byte[] previous = AuditKey.Genesis;
        var anchor = await store.ReadAnchorAsync(chain, ct);
        if (anchor is not null)
        {
            if (!key.VerifiesAnchor(anchor))
            {
                return (0, new AuditBreak(chain, anchor.Seq, "the retention anchor's signature does not match (altered, or signed with another key)"), null);
            }

            expected = anchor.Seq + 1;
            previous = anchor.Mac;
        }

        long count = 0;
        string? lastKind = null;
        await foreach (var row in store.ReadChainAsync(chain, 0, ct))
        {
            count++;
            if (row.Seq < expected)
            {
                return (count, new AuditBreak(chain, row.Seq, anchor is null ? "appears twice or out of order" : "is older than the chain's retention anchor"), null);
            }

            if (row.Seq > expected)
            {
                string what = expected == row.Seq - 1 ? $"record {expected} is missing" : $"records {expected}–{row.Seq - 1} are missing";
                return (count, new AuditBreak(chain, expected, what + $" (the chain continues at {row.Seq})"), null);
            }

            if (expected == 1 && row.Kind != AuditKinds.ChainStarted)
            {
                return (count, new AuditBreak(chain, row.Seq, $"the chain starts with a {row.Kind} record, not {AuditKinds.ChainStarted}"), null);
            }

            if (!key.Verifies(row, previous))
            {
                // The first record fails alike when the trail was written under another key: say so, it is the common case.
                string hint = count == 1 ? "; or the trail was written with another audit key than the one configured" : "";
                return (count, new AuditBreak(chain, row.Seq, $"{row.Kind} record altered, moved or forged (its MAC does not match{hint})"), null);
            }

            previous = row.Mac;
            lastKind = row.Kind;
            expected++;
        }

        if (count == 0 && anchor is null)
        {
            return (0, null, null);
        }

        return (count, null, lastKind == AuditKinds.ChainEnded
            ? null
            : $"chain {chain} has no {AuditKinds.ChainEnded} record after record {expected - 1}: its gateway is running, crashed, or the chain's last records were removed");
    }
}
