using System.Diagnostics;
using Microsoft.Data.Sqlite;

namespace Gatehouse.Audit.Tests;

/// <summary>The state file taken away while the trail writes: waiting records fault, and are stored once it returns, without a gap.</summary>
public sealed class TrailFaultTests : IAsyncLifetime
{
    private readonly TrailFiles _files = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _files.DisposeAsync().AsTask();

    [Fact]
    public async Task A_failed_batch_faults_its_waiting_records_and_stores_them_in_place_after_the_store_returns()
    {
        var store = _files.Open();
        await using (store)
        await using (var trail = _files.Trail(store))
        {
            await trail.StartAsync(default);
            await Records.SessionAsync(trail, _files.Time, "before");
            string backup = Path.Combine(_files.Directory, "backup.db");
            _files.Execute($"VACUUM INTO '{backup}'");
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(_files.Path + suffix);
            }

            var lost = trail.Append(AuditKinds.SessionStarted, "lost", new SessionStartedRecord("lost", "wire", null, null, "shop", Records.Identity("x"), "r"));
            var error = await Assert.ThrowsAsync<AuditUnavailableException>(() => lost);
            Assert.Contains("was deleted or replaced while running", error.Message, StringComparison.Ordinal);
            Assert.False(trail.Healthy);
            Assert.Equal(1, trail.Stats.FailedRecords);

            // While the store fails, a record waits for it (and faults) rather than completing at once.
            var alsoLost = trail.Append(AuditKinds.SessionEnded, "lost", new SessionEndedRecord("lost", 0, null));
            await Assert.ThrowsAsync<AuditUnavailableException>(() => alsoLost);

            File.Copy(backup, _files.Path);
            await Records.SessionAsync(trail, _files.Time, "after");
            Assert.True(trail.Healthy);
        }

        // The refused records keep their place: seq is given at append, so nothing is renumbered or dropped.
        var result = await _files.VerifyAsync();
        Assert.True(result.Intact, string.Join("; ", result.Breaks));
        Assert.Empty(result.Notes);
        Assert.Equal(1 + 6 + 2 + 6 + 1, result.Records);
        Assert.Equal(2, _files.Scalar("SELECT count(*) FROM audit_records WHERE session_id = 'lost'"));
        Assert.Equal(8, _files.Scalar("SELECT seq FROM audit_records WHERE session_id = 'lost' AND kind = 'session.start'"));
        Assert.Equal(6, _files.Scalar("SELECT count(*) FROM audit_records WHERE session_id = 'after'"));
        Assert.Equal(result.Records, _files.Scalar("SELECT max(seq) FROM audit_records"));
    }

    [Fact]
    public async Task A_trail_that_never_started_writes_no_chain_end()
    {
        // A gateway that fails to start disposes its trail before StartAsync: a lone chain.end would read as tampering.
        await using (var store = _files.Open())
        {
            await using var trail = new AuditTrail(store.Audit, _files.Key, new AuditTrailOptions { Chain = "gw-1", JournalDirectory = _files.Directory }, _files.Time);
        }

        Assert.Equal(0, _files.Scalar("SELECT count(*) FROM audit_records"));
        var result = await _files.VerifyAsync();
        Assert.True(result.Intact, string.Join("; ", result.Breaks));
        Assert.Empty(Directory.GetFiles(_files.Directory, "*" + AuditJournal.SegmentExtension, SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_clock_stepped_back_does_not_give_a_later_record_an_earlier_time()
    {
        await using (var store = _files.Open())
        await using (var trail = _files.Trail(store))
        {
            await trail.StartAsync(default);
            _files.Time.Now = TrailFiles.Start.AddSeconds(10);
            await trail.Append(AuditKinds.Statement, "clock", Records.Statement("clock", 1, "SELECT 1", "allow", null));
            _files.Time.Now = TrailFiles.Start.AddSeconds(4); // NTP stepped the clock back
            await trail.Append(AuditKinds.Statement, "clock", Records.Statement("clock", 2, "SELECT 2", "allow", null));
            _files.Time.Now = TrailFiles.Start.AddSeconds(12);
            await trail.Append(AuditKinds.Statement, "clock", Records.Statement("clock", 3, "SELECT 3", "allow", null));
        }

        Assert.True((await _files.VerifyAsync()).Intact);
        long Time(int seq) => _files.Scalar($"SELECT time FROM audit_records WHERE session_id = 'clock' ORDER BY seq LIMIT 1 OFFSET {seq - 1}");
        // The step back is not followed: the second record is as much later than the first as real time says.
        Assert.InRange(Time(2) - Time(1), 0, 1000);
        Assert.True(Time(3) > Time(2));
    }

    [Fact]
    public async Task Records_queued_together_are_stored_in_one_batch_in_order()
    {
        await using (var store = _files.Open())
        await using (var trail = _files.Trail(store))
        {
            await trail.StartAsync(default);
            var tasks = Enumerable.Range(1, 2000).Select(i => trail.Append(AuditKinds.Statement, "bulk", Records.Statement("bulk", i, $"SELECT {i}", "allow", null))).ToList();
            await Task.WhenAll(tasks);
            Assert.True(trail.Stats.Batches < 2001, "group commit: fewer batches than records");
        }

        var result = await _files.VerifyAsync();
        Assert.True(result.Intact);
        Assert.Equal(2002, result.Records);
        using var connection = new SqliteConnection($"Data Source={_files.Path};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT body FROM audit_records WHERE kind = 'statement' ORDER BY seq";
        using var reader = command.ExecuteReader();
        long expected = 1;
        while (reader.Read())
        {
            Assert.Equal(expected++, AuditJson.Read<StatementRecord>(reader.GetString(0)).Statement);
        }

        Assert.Equal(2001, expected);
    }

    [Fact]
    public async Task Lazy_records_keep_their_place_between_awaited_ones_and_are_flushed_alone()
    {
        const int sessions = 8, statements = 150;
        await using (var store = _files.Open())
        await using (var trail = _files.Trail(store))
        {
            await trail.StartAsync(default);

            // As sessions do: a statement's record is awaited, its outcome (here a record numbered -i) appended
            // lazily, then the next statement; the session's end is awaited last.
            async Task SessionAsync(string session)
            {
                await Task.Yield();
                for (int i = 1; i <= statements; i++)
                {
                    await trail.Append(AuditKinds.Statement, session, Records.Statement(session, i, $"SELECT {i}", "allow", null));
                    trail.AppendLazily(AuditKinds.Statement, session, Records.Statement(session, -i, $"SELECT {i}", "allow", null));
                }

                await trail.Append(AuditKinds.SessionEnded, session, new SessionEndedRecord(session, statements, null));
            }

            await Task.WhenAll(Enumerable.Range(1, sessions).Select(n => SessionAsync($"s{n}")));
            trail.AppendLazily(AuditKinds.Statement, "alone", Records.Statement("alone", 1, "SELECT 'alone'", "allow", null));
            long expected = 1 + sessions * (2L * statements + 1) + 1;
            var flushed = Stopwatch.StartNew();
            while (trail.Stats.Records < expected && flushed.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(10);
            }

            Assert.Equal(expected, trail.Stats.Records);
        }

        Assert.True((await _files.VerifyAsync()).Intact);
        using var connection = new SqliteConnection($"Data Source={_files.Path};Pooling=false");
        connection.Open();
        for (int n = 1; n <= sessions; n++)
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT kind, body FROM audit_records WHERE session_id = 's{n}' ORDER BY seq";
            using var reader = command.ExecuteReader();
            var order = new List<long>();
            while (reader.Read())
            {
                order.Add(reader.GetString(0) == AuditKinds.SessionEnded ? long.MaxValue : AuditJson.Read<StatementRecord>(reader.GetString(1)).Statement);
            }

            // 1, -1, 2, -2, …, end: every outcome after its statement, before the next one and before the end.
            var want = Enumerable.Range(1, statements).SelectMany(i => new long[] { i, -i }).Append(long.MaxValue);
            Assert.Equal(want, order);
        }
    }
}
