using Gatehouse.State;

namespace Gatehouse.Audit;

/// <summary>
/// Prunes records older than the retention period (config <c>audit.retention</c>), chain by chain. The chain is
/// verified up to the cut first, so a tampered record is never sealed into an anchor; the last pruned record's
/// position and MAC become the chain's signed anchor, from which the rest stays verifiable.
/// </summary>
public static class AuditRetention
{
    /// <summary>Returns the number of records pruned, and the chains that were not pruned because they do not verify.</summary>
    public static async Task<(long Pruned, IReadOnlyList<string> Refused)> PruneAsync(IAuditStore store, AuditKey key, DateTimeOffset before, CancellationToken ct)
    {
        long pruned = 0;
        var refused = new List<string>();
        foreach (var chain in await store.ChainsAsync(ct))
        {
            var anchor = await store.ReadAnchorAsync(chain, ct);
            if (anchor is not null && !key.VerifiesAnchor(anchor))
            {
                refused.Add(chain);
                continue;
            }

            long expected = anchor is null ? 1 : anchor.Seq + 1;
            byte[] previous = anchor?.Mac ?? AuditKey.Genesis;
            AuditRow? last = null;
            bool broken = false;
            await foreach (var row in store.ReadChainAsync(chain, expected - 1, ct))
            {
                if (row.Time >= before)
                {
                    break;
                }

                if (row.Seq != expected || !key.Verifies(row, previous))
                {
                    broken = true;
                    break;
                }

                last = row;
                previous = row.Mac;
                expected++;
            }

            if (broken)
            {
                refused.Add(chain);
            }
            else if (last is not null)
            {
                var signature = key.SignAnchor(chain, last.Seq, last.Mac, last.Time);
                pruned += await store.PruneAsync(new AuditAnchor(chain, last.Seq, last.Mac, last.Time, signature), ct);
            }
        }

        return (pruned, refused);
    }
}
