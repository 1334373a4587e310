using System.Text;
using Gatehouse.State;

namespace Gatehouse.Audit;

/// <summary>What recovery did with one crashed process's journal.</summary>
public sealed record JournalRecovered(string Chain, long Stored, long AlreadyStored, long Discarded);

/// <summary>
/// Puts the journals of processes that ended without storing everything (a crash, kill -9, a store that was down
/// at exit) into the store, then deletes them. A journal whose lock is held belongs to a live process and is left
/// alone. Frames are checked against the chain's MACs, continuing from the store's last record of that chain: the
/// first frame that does not verify (a write torn by the crash) ends the journal, and it and everything after it
/// are discarded: none of them was acknowledged to a client. A frame after a gap (a record whose journal write
/// failed went to the store alone, and the store does not have it) cannot be checked against its predecessor:
/// it is stored all the same, and <c>audit verify</c> names the missing record.
/// </summary>
public static class AuditJournalRecovery
{
    private const int Batch = 2048;

    /// <summary>Recovers every orphaned journal under <paramref name="stateDirectory"/>. Store errors propagate; the journal then stays for the next try.</summary>
    public static async Task<IReadOnlyList<JournalRecovered>> RecoverAsync(string stateDirectory, IAuditStore store, AuditKey key, CancellationToken ct)
    {
        string root = Path.Combine(stateDirectory, AuditJournal.DirectoryName);
        var recovered = new List<JournalRecovered>();
        if (!Directory.Exists(root))
        {
            return recovered;
        }

        foreach (string directory in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            Microsoft.Win32.SafeHandles.SafeFileHandle lockHandle;
            try
            {
                lockHandle = File.OpenHandle(Path.Combine(directory, AuditJournal.LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                continue; // a live gateway's journal
            }

            using (lockHandle)
            {
                if (await RecoverOneAsync(directory, store, key, ct) is { } one)
                {
                    recovered.Add(one);
                }

                foreach (string file in Directory.EnumerateFiles(directory))
                {
                    File.Delete(file);
                }
            }

            Directory.Delete(directory);
        }

        return recovered;
    }

    private static async Task<JournalRecovered?> RecoverOneAsync(string directory, IAuditStore store, AuditKey key, CancellationToken ct)
    {
        string chainFile = Path.Combine(directory, AuditJournal.ChainFile);
        if (!File.Exists(chainFile))
        {
            return null; // created and crashed before its first record
        }

        string chain = await File.ReadAllTextAsync(chainFile, Encoding.UTF8, ct);
        var last = await store.LastAsync(chain, ct);
        long storedSeq = last?.Seq ?? 0;
        byte[] previous = last?.Mac ?? AuditKey.Genesis;
        long expected = storedSeq + 1;
        long stored = 0, already = 0, discarded = 0;
        bool torn = false;
        var rows = new List<AuditRow>(Batch);
        foreach (string segment in Directory.EnumerateFiles(directory, "*" + AuditJournal.SegmentExtension).Order(StringComparer.Ordinal))
        {
            foreach (var row in AuditJournal.ReadSegment(segment, chain))
            {
                if (torn)
                {
                    discarded++;
                }
                else if (row.Seq <= storedSeq)
                {
                    already++;
                }
                else if (row.Seq < expected || (row.Seq == expected && !key.Verifies(row, previous)))
                {
                    torn = true;
                    discarded++;
                }
                else
                {
                    rows.Add(row);
                    previous = row.Mac;
                    expected++;
                    if (rows.Count == Batch)
                    {
                        await store.AppendAsync(rows, ct);
                        stored += rows.Count;
                        rows = new List<AuditRow>(Batch);
                    }
                }
            }
        }

        if (rows.Count > 0)
        {
            await store.AppendAsync(rows, ct);
            stored += rows.Count;
        }

        return new JournalRecovered(chain, stored, already, discarded);
    }
}
