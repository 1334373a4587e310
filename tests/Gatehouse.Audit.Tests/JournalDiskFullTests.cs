using Gatehouse.Testing;
using Gatehouse.State;

namespace Gatehouse.Audit.Tests;

/// <summary>
/// With durability os the journal zero-fills its segments ahead; on a disk without room for several (an 8 MiB
/// tmpfs, a segment is 16 MiB) it falls back to growing segments instead of failing, and no spare takes the room
/// that is left. Mounting needs root (as the tests run here).
/// </summary>
public sealed class JournalDiskFullTests : IAsyncLifetime
{
    private const string Needs = "root, to mount a tmpfs";

    private readonly string _mount = Directory.CreateTempSubdirectory("gatehouse-journal-full-").FullName;
    private readonly TrailFiles _files = new();

    public Task InitializeAsync() => RootTool.RunAsync(Needs, "mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", _mount);

    [Fact]
    public async Task Without_room_for_a_zero_filled_segment_records_go_to_a_growing_one_and_are_recovered()
    {
        var rows = new List<AuditRow>();
        var previous = AuditKey.Genesis;
        for (int seq = 1; seq <= 50; seq++)
        {
            var time = TrailFiles.Start.AddSeconds(seq);
            string body = AuditJson.Write(Records.Statement("s", seq, $"SELECT {seq}", "allow", null));
            var mac = _files.Key.Mac("gw-full", seq, time, AuditKinds.Statement, "s", body, previous);
            rows.Add(new AuditRow("gw-full", seq, time, AuditKinds.Statement, "s", body, mac));
            previous = mac;
        }

        string directory = Path.Combine(_mount, AuditJournal.DirectoryName, AuditJournal.DirectoryFor("gw-full"));
        using (var journal = AuditJournal.Create(_mount, "gw-full", fsync: true))
        {
            foreach (var row in rows)
            {
                journal.Write(row);
                AuditJournal.SyncData(journal.Current);
            }

            string segment = Assert.Single(Directory.EnumerateFiles(directory, "*" + AuditJournal.SegmentExtension));
            Assert.True(new FileInfo(segment).Length < 1 << 20);

            // The next segment's zero-fill is not even tried: the records keep the room there is.
            string spare = Path.Combine(directory, AuditJournal.SpareFile);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (File.Exists(spare) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.False(File.Exists(spare), "a spare that could not be filled is removed");
        }

        await using var store = _files.Open();
        var recovered = Assert.Single(await AuditJournalRecovery.RecoverAsync(_mount, store.Audit, _files.Key, default));
        Assert.Equal(new JournalRecovered("gw-full", 50, 0, 0), recovered);
    }

    public async Task DisposeAsync()
    {
        await RootTool.RunAsync(Needs, "umount", _mount);
        Directory.Delete(_mount);
        await _files.DisposeAsync();
    }
}
