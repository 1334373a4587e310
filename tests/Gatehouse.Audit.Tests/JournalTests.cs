using Gatehouse.State;

namespace Gatehouse.Audit.Tests;

/// <summary>
/// The write-ahead journal: a journaled record is durable before the store has it, a crashed process's journal is
/// recovered into the store exactly once (torn tails dropped, a live journal left alone), and os durability shares
/// fsyncs between records.
/// </summary>
public sealed class JournalTests : IAsyncLifetime
{
    private readonly TrailFiles _files = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _files.DisposeAsync().AsTask();

    private string JournalRoot => Path.Combine(_files.Directory, AuditJournal.DirectoryName);

    private AuditTrail JournaledTrail(IStateStore store, string chain = "gw-1", bool sync = false) =>
        new(store.Audit, _files.Key, new AuditTrailOptions { Chain = chain, JournalDirectory = _files.Directory, SyncJournal = sync }, _files.Time);

    [Fact]
    public async Task Journaled_records_complete_at_once_and_a_clean_stop_stores_them_and_removes_the_journal()
    {
        await using (var store = _files.Open())
        await using (var trail = JournaledTrail(store))
        {
            await trail.StartAsync(default);
            var appended = Enumerable.Range(1, 300).Select(i => trail.Append(AuditKinds.Statement, "s", Records.Statement("s", i, $"SELECT {i}", "allow", null))).ToList();
            Assert.All(appended, task => Assert.True(task.IsCompletedSuccessfully, "a journaled record is durable when Append returns"));
            Assert.Single(Directory.EnumerateDirectories(JournalRoot));
        }

        var result = await _files.VerifyAsync();
        Assert.True(result.Intact, string.Join("; ", result.Breaks));
        Assert.Empty(result.Notes);
        Assert.Equal(302, result.Records);
        Assert.Empty(Directory.EnumerateDirectories(JournalRoot));
    }

    [Fact]
    public async Task A_crashed_journal_is_recovered_once_after_what_the_store_has_and_its_torn_tail_is_dropped()
    {
        // A "crash": rows 1-40 journaled, only 1-25 in the store, the last frame half written.
        var rows = Chain("gw-crashed", 40);
        using (var journal = AuditJournal.Create(_files.Directory, "gw-crashed", fsync: false))
        {
            foreach (var row in rows)
            {
                journal.Write(row);
            }
        }

        string segment = Directory.EnumerateFiles(Path.Combine(JournalRoot, AuditJournal.DirectoryFor("gw-crashed"))).Single(f => f.EndsWith(AuditJournal.SegmentExtension, StringComparison.Ordinal));
        var bytes = await File.ReadAllBytesAsync(segment);
        await File.WriteAllBytesAsync(segment, bytes[..^10]);

        await using (var store = _files.Open())
        {
            await store.Audit.AppendAsync(rows.Take(25).ToList(), default);
            var recovered = Assert.Single(await AuditJournalRecovery.RecoverAsync(_files.Directory, store.Audit, _files.Key, default));
            Assert.Equal(new JournalRecovered("gw-crashed", 14, 25, 0), recovered);
            Assert.Empty(await AuditJournalRecovery.RecoverAsync(_files.Directory, store.Audit, _files.Key, default));
        }

        var result = await _files.VerifyAsync();
        Assert.True(result.Intact, string.Join("; ", result.Breaks));
        Assert.Equal(39, result.Records);
        Assert.Contains(result.Notes, note => note.Contains("chain.end", StringComparison.Ordinal));
        Assert.Empty(Directory.EnumerateDirectories(JournalRoot));
    }

    [Fact]
    public async Task A_frame_that_does_not_verify_ends_recovery_there()
    {
        var rows = Chain("gw-forged", 10);
        var forged = rows[6] with { Body = rows[6].Body.Replace("SELECT", "DELETE", StringComparison.Ordinal) };
        using (var journal = AuditJournal.Create(_files.Directory, "gw-forged", fsync: false))
        {
            foreach (var row in rows.Take(6).Append(forged).Concat(rows.Skip(7)))
            {
                journal.Write(row);
            }
        }

        await using var store = _files.Open();
        var recovered = Assert.Single(await AuditJournalRecovery.RecoverAsync(_files.Directory, store.Audit, _files.Key, default));
        Assert.Equal(new JournalRecovered("gw-forged", 6, 0, 4), recovered);
        Assert.Equal(6, (await store.Audit.LastAsync("gw-forged", default))?.Seq);
    }

    [Fact]
    public async Task A_live_journal_is_locked_and_left_alone()
    {
        await using var store = _files.Open();
        await using var trail = JournaledTrail(store, "gw-live");
        await trail.StartAsync(default);
        await trail.Append(AuditKinds.Statement, "s", Records.Statement("s", 1, "SELECT 1", "allow", null));
        Assert.Empty(await AuditJournalRecovery.RecoverAsync(_files.Directory, store.Audit, _files.Key, default));
        Assert.Single(Directory.EnumerateDirectories(JournalRoot));
    }

    [Fact]
    public async Task With_fsync_concurrent_records_share_fsyncs()
    {
        await using (var store = _files.Open())
        await using (var trail = JournaledTrail(store, sync: true))
        {
            await trail.StartAsync(default);
            async Task SessionAsync(string session)
            {
                await Task.Yield();
                for (int i = 1; i <= 100; i++)
                {
                    await trail.Append(AuditKinds.Statement, session, Records.Statement(session, i, $"SELECT {i}", "allow", null));
                }
            }

            await Task.WhenAll(Enumerable.Range(1, 8).Select(n => SessionAsync($"s{n}")));
            long syncs = trail.Stats.JournalSyncs;
            Assert.InRange(syncs, 1, 799);
        }

        Assert.True((await _files.VerifyAsync()).Intact);
    }

    [Fact]
    public async Task A_journal_directory_that_cannot_be_created_is_an_io_error_naming_it()
    {
        string blocked = Path.Combine(_files.Directory, "not-a-directory");
        await File.WriteAllTextAsync(blocked, "x");
        await using var store = _files.Open();
        var error = Assert.ThrowsAny<IOException>(() => new AuditTrail(store.Audit, _files.Key, new AuditTrailOptions { Chain = "gw", JournalDirectory = blocked }, _files.Time));
        Assert.Contains("not-a-directory", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Records_over_several_segments_and_one_larger_than_a_segment_are_all_recovered(bool fsync)
    {
        // 64 KiB segments: about 200 KiB of 1 KiB statements, with one of 100 KiB (larger than a segment) among
        // them, which gets a segment of its own. With fsync, segments are zero-filled to their full size before use.
        const long segmentBytes = 64 << 10;
        const int count = 200, huge = 40;
        string padding = new('x', 1024);
        var rows = Chain("gw-segments", count, seq => seq == huge ? "SELECT '" + new string('y', 100 << 10) + "'" : $"SELECT {seq} /* {padding} */");
        string directory = Path.Combine(JournalRoot, AuditJournal.DirectoryFor("gw-segments"));
        using (var journal = AuditJournal.Create(_files.Directory, "gw-segments", fsync, segmentBytes))
        {
            foreach (var row in rows)
            {
                journal.Write(row);
            }

            var segments = Directory.EnumerateFiles(directory, "*" + AuditJournal.SegmentExtension).Order(StringComparer.Ordinal).Select(f => new FileInfo(f).Length).ToList();
            Assert.InRange(segments.Count, 4, 6);
            Assert.Single(segments, length => length > segmentBytes);
            Assert.All(segments.Where(length => length <= segmentBytes), length => Assert.True(!fsync || length == segmentBytes, $"{length} bytes"));
        }

        await using (var store = _files.Open())
        {
            var recovered = Assert.Single(await AuditJournalRecovery.RecoverAsync(_files.Directory, store.Audit, _files.Key, default));
            Assert.Equal(new JournalRecovered("gw-segments", count, 0, 0), recovered);
        }

        var result = await _files.VerifyAsync();
        Assert.True(result.Intact, string.Join("; ", result.Breaks));
        Assert.Equal(count, result.Records);
        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    public async Task A_frame_torn_in_a_zero_filled_segment_is_dropped_and_the_zeros_after_it_end_the_journal()
    {
        var rows = Chain("gw-zeros", 20);
        long end = 0;
        using (var journal = AuditJournal.Create(_files.Directory, "gw-zeros", fsync: true))
        {
            foreach (var row in rows)
            {
                end = journal.Write(row);
            }
        }

        // What a crash did not write of the last frame reads as the zeros the segment was filled with.
        string segment = Directory.EnumerateFiles(Path.Combine(JournalRoot, AuditJournal.DirectoryFor("gw-zeros")), "*" + AuditJournal.SegmentExtension).Single();
        using (var file = File.OpenHandle(segment, FileMode.Open, FileAccess.Write))
        {
            RandomAccess.Write(file, new byte[10], end - 10);
        }

        await using var store = _files.Open();
        var recovered = Assert.Single(await AuditJournalRecovery.RecoverAsync(_files.Directory, store.Audit, _files.Key, default));
        Assert.Equal(new JournalRecovered("gw-zeros", 19, 0, 1), recovered);
    }

    // Rows of a chain as the trail makes them: chain.start, then statements, each MAC after the previous one's.
    private List<AuditRow> Chain(string chain, int count, Func<int, string>? sql = null)
    {
        var rows = new List<AuditRow>();
        var previous = AuditKey.Genesis;
        for (int seq = 1; seq <= count; seq++)
        {
            var time = TrailFiles.Start.AddSeconds(seq);
            var (kind, session, body) = seq == 1
                ? (AuditKinds.ChainStarted, (string?)null, AuditJson.Write(new ChainStartedRecord(chain, "host", 1, "1")))
                : (AuditKinds.Statement, "s", AuditJson.Write(Records.Statement("s", seq, sql?.Invoke(seq) ?? $"SELECT {seq}", "allow", null)));
            var mac = _files.Key.Mac(chain, seq, time, kind, session, body, previous);
            rows.Add(new AuditRow(chain, seq, time, kind, session, body, mac));
            previous = mac;
        }

        return rows;
    }
}
