using System.Diagnostics;
using System.Threading.Channels;
using Gatehouse.State;

namespace Gatehouse.Audit;

/// <summary>What to do when the trail cannot be written (config <c>audit.on_failure</c>).</summary>
public enum AuditFailureMode
{
    /// <summary>Refuse the statement (58000 "audit unavailable"): nothing runs unrecorded.</summary>
    Deny,

    /// <summary>Run it anyway and log: for non-production use only.</summary>
    Allow,
}

public sealed record AuditTrailOptions
{
    /// <summary>This process's chain: one chain per gateway process, so several instances on one store never interleave.</summary>
    public required string Chain { get; init; }

    public AuditFailureMode OnFailure { get; init; } = AuditFailureMode.Deny;

    public string Version { get; init; } = typeof(AuditTrail).Assembly.GetName().Version?.ToString() ?? "0";

    /// <summary>Told how long each stored batch took (for /metrics); failed batches are counted in the stats instead.</summary>
    public Action<TimeSpan>? BatchWritten { get; init; }

    /// <summary>
    /// The state directory to keep this chain's write-ahead journal in (<see cref="AuditJournal"/>), or null for none:
    /// then every awaited record waits until the store has it.
    /// </summary>
    public string? JournalDirectory { get; init; }

    /// <summary>With a journal: an awaited record is durable once an fsync of the journal covers it (<c>durability: os</c>).</summary>
    public bool SyncJournal { get; init; }
}

/// <summary>Counters for /metrics and the benchmark: records per store transaction is the group commit at work.</summary>
public readonly record struct AuditTrailStats(long Records, long Batches, long FailedRecords, int Queued, double LastBatchMs, long JournalSyncs = 0);

/// <summary>
/// The writer of this process's chain.
/// <code>
///  caller: Append ─► under one lock: seq, MAC after the previous record's, one journal write (pwrite) ─► queued for the store
///          └─► the task is complete at once (journaled) · after the journal's next fsync (SyncJournal) ·
///              after the store has it (no journal, the journal failed, the store is failing, or StartAsync)
///  writer: woken by a waiting record, by WakeAt queued records, or LazyFlush after the first
///          ─► store.AppendAsync(≤ MaxBatch rows): one transaction each ─► waiting tasks complete; stored segments go
///                         │ fails
///                         ▼ waiting tasks fault (58000); the rows stay first in line and are retried every RetryEvery
/// </code>
/// Seq and MAC are given at append, so the chain's order is the order of appends and a record is never renumbered:
/// a row the store refused is stored later, after the store returns, not dropped. While the store fails, every
/// awaited record waits for it (so a statement is refused with 58000 rather than run while the trail is down); with
/// a journal, those appended before the failure was seen are safe in it. A crash leaves the journal for
/// <see cref="AuditJournalRecovery"/>.
/// </summary>
public sealed class AuditTrail : IAsyncDisposable
{
    /// <summary>Rows per store transaction, at most.</summary>
    public const int MaxBatch = 4096;

    /// <summary>Queued rows that wake the writer although nobody waits for them.</summary>
    public const int WakeAt = 2048;

    /// <summary>Rows not yet stored beyond which appends are refused (the store has been failing for a long time).</summary>
    public const int MaxBacklog = 200_000;

    /// <summary>The longest a record nobody waits for stays queued before the writer takes it.</summary>
    public static readonly TimeSpan LazyFlush = TimeSpan.FromMilliseconds(200);

    /// <summary>How often rows the store refused are tried again (sooner when a caller waits for one).</summary>
    public static readonly TimeSpan RetryEvery = TimeSpan.FromMilliseconds(250);

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly IAuditStore _store;
    private readonly AuditKey _key;
    private readonly TimeProvider _time;
    private readonly ITimer _lazyTimer;
    private readonly AuditJournal? _journal;
    private readonly JournalSyncer? _syncer;
    private readonly Task _loop;

    // Guards the chain's head, the journal and the queue: an append is one short critical section.
    private readonly Lock _gate = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<IHeldRecords, byte> _holders = new(ReferenceEqualityComparer.Instance);
    private List<Unstored> _queue = [];
    private readonly List<(long Seq, TaskCompletionSource Done)> _flushes = [];
    private long _storedSeq;
    private long _seq;
    private byte[] _head = AuditKey.Genesis;
    private DateTimeOffset _lastTime = DateTimeOffset.MinValue;
    private long _lastStamp;
    private bool _closed;
    private int _lazyArmed;

    private long _records;
    private long _batches;
    private long _failed;
    private double _lastBatchMs;
    private volatile string? _lastError;
    private volatile string? _journalError;

    /// <summary>Creates the trail, and its journal when <see cref="AuditTrailOptions.JournalDirectory"/> is set (IOException when it cannot be created).</summary>
    public AuditTrail(IAuditStore store, AuditKey key, AuditTrailOptions options, TimeProvider time)
    {
        _store = store;
        _key = key;
        _time = time;
        Options = options;
        if (options.JournalDirectory is { } directory)
        {
            _journal = AuditJournal.Create(directory, options.Chain, options.SyncJournal);
            _syncer = options.SyncJournal ? new JournalSyncer(this) : null;
        }

        _lazyTimer = time.CreateTimer(_ => Wake(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _loop = Task.Run(RunAsync);
    }

    public AuditTrailOptions Options { get; }

    /// <summary>The chain's key (for retention's anchors).</summary>
    public AuditKey Key => _key;

    public string Chain => Options.Chain;

    /// <summary>The last store write failed (and no later one succeeded yet); the reason is <see cref="LastError"/>.</summary>
    public bool Healthy => _lastError is null;

    public string? LastError => _lastError;

    /// <summary>Why the journal could not be written, when it could not (records then wait for the store).</summary>
    public string? JournalError => _journalError;

    public AuditTrailStats Stats => new(
        Interlocked.Read(ref _records), Interlocked.Read(ref _batches), Interlocked.Read(ref _failed), Volatile.Read(ref _queue).Count, Volatile.Read(ref _lastBatchMs),
        _syncer?.Syncs ?? 0);

    /// <summary>Writes the chain's first record and waits until the store has it: a store that cannot be written stops start-up.</summary>
    public Task StartAsync(CancellationToken ct) =>
        Append(AuditKinds.ChainStarted, null, AuditJson.Write(new ChainStartedRecord(Options.Chain, Environment.MachineName, Environment.ProcessId, Options.Version)), Wait.Store, ct);

    /// <summary>Appends one record; the task completes once it is durable, or faults with <see cref="AuditUnavailableException"/>.</summary>
    public Task Append<T>(string kind, string? session, T record, CancellationToken ct = default) => Append(kind, session, AuditJson.Write(record), Wait.Durable, ct);

    /// <summary>Appends a record whose body is JSON the caller made (records of other components, e.g. reviews).</summary>
    public Task AppendJson(string kind, string? session, string body, CancellationToken ct = default) => Append(kind, session, body, Wait.Durable, ct);

    /// <summary>The trail's clock (a held record's own time).</summary>
    public DateTimeOffset UtcNow => _time.GetUtcNow();

    /// <summary>
    /// <paramref name="holder"/> holds a record back to write it with its next one (a session's last outcome, carried by
    /// its next statement record). Unless that comes first, the trail asks it to write the record on its own at the
    /// writer's next turn: within <see cref="LazyFlush"/>, before a flush, and at the trail's end.
    /// </summary>
    public void Holding(IHeldRecords holder)
    {
        _holders.TryAdd(holder, 0);
        if (Interlocked.Exchange(ref _lazyArmed, 1) == 0)
        {
            _lazyTimer.Change(LazyFlush, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The holder has nothing more to hold (its session ended).</summary>
    public void Forget(IHeldRecords holder) => _holders.TryRemove(holder, out _);

    // Asks every holder to append what it holds; a holder that holds again registers again.
    private void ReleaseHolders()
    {
        foreach (var holder in _holders.Keys)
        {
            _holders.TryRemove(holder, out _);
            holder.ReleaseHeld();
        }
    }

    /// <summary>
    /// Appends a record nobody waits for (an outcome, after the client saw it): journaled if there is a journal, never
    /// waking the writer by itself. Its place in the chain is where it was appended, like any other record.
    /// </summary>
    public void AppendLazily<T>(string kind, string? session, T record) => _ = Append(kind, session, AuditJson.Write(record), Wait.None, default);

    private enum Wait
    {
        None,
        Durable,
        Store,
    }

    private Task Append(string kind, string? session, string body, Wait wait, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled(ct);
        }

        TaskCompletionSource? waiter = null;
        long journaled = -1;
        bool wake, arm;
        lock (_gate)
        {
            if (_closed)
            {
                return Task.FromException(new AuditUnavailableException("the audit trail is closed"));
            }

            if (_queue.Count >= MaxBacklog)
            {
                return Task.FromException(new AuditUnavailableException($"the audit store has not taken a record for too long ({MaxBacklog} waiting)"));
            }

            var time = RecordTime();

            long seq = _seq + 1;
            var mac = _key.Mac(Options.Chain, seq, time, kind, session, body, _head);
            var row = new AuditRow(Options.Chain, seq, time, kind, session, body, mac);
            journaled = Journal(row, buffered: wait == Wait.None);
            _seq = seq;
            _head = mac;
            _lastTime = time;
            _lastStamp = _time.GetTimestamp();
            if (wait == Wait.Store || (wait == Wait.Durable && (journaled < 0 || _lastError is not null)))
            {
                waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            _queue.Add(new Unstored(row, waiter));
            wake = waiter is not null || _queue.Count == WakeAt;
            arm = !wake && _queue.Count == 1;
        }

        if (wake)
        {
            Wake();
        }
        else if (arm && Interlocked.Exchange(ref _lazyArmed, 1) == 0)
        {
            _lazyTimer.Change(LazyFlush, Timeout.InfiniteTimeSpan);
        }

        if (waiter is not null)
        {
            return waiter.Task;
        }

        return wait == Wait.Durable && _syncer is not null ? _syncer.WaitFor(journaled) : Task.CompletedTask;
    }

    // Under _gate: the wall clock, read under the lock and never earlier than the previous record's, so the chain's
    // times follow its order (a session's outcome and next statement append from two threads). A clock stepped back
    // (seen when it is behind the previous record's time plus the monotonic time since, by more than StepTolerance)
    // gives way to that estimate: a replay's offsets keep the real durations, and the trail runs ahead of the wall
    // clock until it catches up.
    private DateTimeOffset RecordTime()
    {
        var wall = _time.GetUtcNow();
        if (_lastStamp == 0)
        {
            return wall;
        }

        var estimate = _lastTime + _time.GetElapsedTime(_lastStamp);
        if (wall < estimate - StepTolerance)
        {
            return estimate;
        }

        return wall < _lastTime ? _lastTime : wall;
    }

    private static readonly TimeSpan StepTolerance = TimeSpan.FromMilliseconds(100);

    // Under _gate. The journal's position after the row, or -1 when there is no journal or it failed (the record
    // then waits for the store: slower, never less safe). A record nobody waits for is only buffered: it goes out
    // with the next write (one pwrite for a statement and the previous outcome), or when the writer takes the queue.
    private long Journal(AuditRow row, bool buffered)
    {
        if (_journal is null)
        {
            return -1;
        }

        try
        {
            long written = _journal.Write(row, buffered);
            _journalError = null;
            return written;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            _journalError = OneLine(ex);
            return -1;
        }
    }

    /// <summary>
    /// Completes once every record appended before the call is in the store, or the store refused the attempt:
    /// a reader in this process then sees its own writes (the admin API reads the store, not the journal).
    /// </summary>
    public Task FlushAsync()
    {
        ReleaseHolders();
        TaskCompletionSource done;
        lock (_gate)
        {
            if (_storedSeq >= _seq || _closed)
            {
                return Task.CompletedTask;
            }

            done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _flushes.Add((_seq, done));
        }

        Wake();
        return done.Task;
    }

    // Under _gate: flushes that the store has caught up with, or all of them when it failed.
    private void CompleteFlushes(bool failed)
    {
        for (int i = _flushes.Count - 1; i >= 0; i--)
        {
            if (failed || _flushes[i].Seq <= _storedSeq)
            {
                _flushes[i].Done.TrySetResult();
                _flushes.RemoveAt(i);
            }
        }
    }

    // Under _gate: buffered records go to the journal before the store has them, or at the latest with them.
    private void FlushJournalBuffer()
    {
        try
        {
            _journal?.Flush();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            _journalError = OneLine(ex); // only outcomes are buffered; the store still gets them
        }
    }

    private void Wake()
    {
        Volatile.Write(ref _lazyArmed, 0);
        _wake.Writer.TryWrite(true);
    }

    private async Task RunAsync()
    {
        // Rows taken from the queue and not yet stored, oldest first: what a failed attempt leaves is retried first.
        var attempt = new List<Unstored>(MaxBatch);
        var spare = new List<Unstored>(MaxBatch);
        var rows = new List<AuditRow>(MaxBatch);
        bool failing = false;
        while (true)
        {
            bool open = await WaitAsync(failing);
            ReleaseHolders();
            List<Unstored> taken;
            lock (_gate)
            {
                taken = _queue;
                _queue = spare;
                if (taken.Count > 0)
                {
                    FlushJournalBuffer();
                }
            }

            attempt.AddRange(taken);
            taken.Clear();
            spare = taken;
            if (attempt.Count > 0)
            {
                failing = !await StoreAsync(attempt, rows);
            }

            // Closed: the last take was stored, or it failed and stays in the journal for the next start.
            if (!open)
            {
                return;
            }
        }
    }

    private async Task<bool> WaitAsync(bool failing)
    {
        if (!failing)
        {
            bool open = await _wake.Reader.WaitToReadAsync();
            _wake.Reader.TryRead(out _);
            return open;
        }

        await Task.WhenAny(_wake.Reader.WaitToReadAsync().AsTask(), Task.Delay(RetryEvery, _time));
        _wake.Reader.TryRead(out _);
        return !_wake.Reader.Completion.IsCompleted;
    }

    // Stores the attempt in batches, removing what was stored; false when the store failed (the rest stays).
    private async Task<bool> StoreAsync(List<Unstored> attempt, List<AuditRow> rows)
    {
        int done = 0;
        Exception? failure = null;
        while (done < attempt.Count && failure is null)
        {
            int count = Math.Min(MaxBatch, attempt.Count - done);
            rows.Clear();
            for (int i = done; i < done + count; i++)
            {
                rows.Add(attempt[i].Row);
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                await _store.AppendAsync(rows, CancellationToken.None);
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            Volatile.Write(ref _lastBatchMs, elapsed.TotalMilliseconds);
            if (failure is null)
            {
                Options.BatchWritten?.Invoke(elapsed);
                Interlocked.Add(ref _records, count);
                Interlocked.Increment(ref _batches);
                for (int i = done; i < done + count; i++)
                {
                    attempt[i].Waiter?.TrySetResult();
                }

                done += count;
                lock (_gate)
                {
                    _storedSeq = rows[^1].Seq;
                    _journal?.Release(_storedSeq);
                    CompleteFlushes(failed: false);
                }
            }
        }

        attempt.RemoveRange(0, done);
        rows.Clear();
        if (failure is null)
        {
            _lastError = null;
            return true;
        }

        var error = new AuditUnavailableException(OneLine(failure));
        _lastError = error.Message;
        lock (_gate)
        {
            CompleteFlushes(failed: true);
        }

        // Counted before the waiters fault: a caller that sees its exception also sees it in Stats.
        for (int i = 0; i < attempt.Count; i++)
        {
            if (attempt[i].Waiter is { Task.IsCompleted: false })
            {
                Interlocked.Increment(ref _failed);
            }
        }

        for (int i = 0; i < attempt.Count; i++)
        {
            attempt[i].Waiter?.TrySetException(error);
        }

        return false;
    }

    private static string OneLine(Exception ex)
    {
        var message = ex.GetBaseException().Message;
        int newline = message.IndexOfAny(['\r', '\n']);
        return newline < 0 ? message : message[..newline];
    }

    /// <summary>
    /// Writes the chain's closing record and lets the writer store everything queued (up to 5 s while the store
    /// fails). What it could not store stays in the journal for the next start's recovery. A trail that never
    /// started (the gateway failed to start) writes nothing: a chain.end without its chain.start reads as tampering.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        ReleaseHolders();
        bool started;
        lock (_gate)
        {
            started = _seq > 0;
        }

        try
        {
            var end = !started ? Task.CompletedTask : Append(AuditKinds.ChainEnded, null, AuditJson.Write(new ChainEndedRecord(Options.Chain, _seq + 1)), Wait.Store, CancellationToken.None);
            await end.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is AuditUnavailableException or TimeoutException)
        {
            // The trail ends without its closing record in the store; the journal keeps what is missing.
        }

        lock (_gate)
        {
            _closed = true;
            CompleteFlushes(failed: true);
        }

        _wake.Writer.TryComplete();
        await _loop;
        _lazyTimer.Dispose();
        _syncer?.Dispose();
        lock (_gate)
        {
            FlushJournalBuffer();
            _journal?.Close(stored: _queue.Count == 0 && Healthy);
        }

    }

    private readonly record struct Unstored(AuditRow Row, TaskCompletionSource? Waiter);

    /// <summary>
    /// <c>durability: os</c> with a journal: one thread syncs the journal (fdatasync) for every record written before
    /// the sync began, so sessions that append together share one (group commit). Two threads overlapping their
    /// syncs were tried and were slower here: the disk serves one flush at a time, and each took longer.
    /// </summary>
    private sealed class JournalSyncer : IDisposable
    {
        private readonly AuditTrail _trail;
        private readonly object _gate = new();
        private readonly List<(long Position, TaskCompletionSource Done)> _waiters = [];
        private readonly Thread _thread;
        private long _synced;
        private long _syncs;
        private bool _stop;

        public JournalSyncer(AuditTrail trail)
        {
            _trail = trail;
            _thread = new Thread(Run) { IsBackground = true, Name = "gatehouse audit journal fsync" };
            _thread.Start();
        }

        public long Syncs => Interlocked.Read(ref _syncs);

        public Task WaitFor(long position)
        {
            lock (_gate)
            {
                if (position <= _synced)
                {
                    return Task.CompletedTask;
                }

                // Completed by the sync thread, outside its lock, with the waiting session's continuation run there: a
                // thread-pool hop per waiter cost more CPU than the sessions' work (every worker woken spun and slept).
                var done = new TaskCompletionSource();
                _waiters.Add((position, done));
                Monitor.Pulse(_gate);
                return done.Task;
            }
        }

        private void Run()
        {
            var ready = new List<TaskCompletionSource>();
            while (true)
            {
                lock (_gate)
                {
                    while (_waiters.Count == 0 && !_stop)
                    {
                        Monitor.Wait(_gate);
                    }

                    if (_stop && _waiters.Count == 0)
                    {
                        return;
                    }
                }

                Microsoft.Win32.SafeHandles.SafeFileHandle handle;
                long written;
                lock (_trail._gate)
                {
                    handle = _trail._journal!.Current;
                    written = _trail._journal.Written;
                }

                AuditUnavailableException? error = null;
                try
                {
                    AuditJournal.SyncData(handle);
                }
                catch (ObjectDisposedException)
                {
                    // Released: everything in it is in the store already.
                }
                catch (IOException ex)
                {
                    error = new AuditUnavailableException("the audit journal cannot be synced: " + OneLine(ex));
                }

                Interlocked.Increment(ref _syncs);
                lock (_gate)
                {
                    if (error is null)
                    {
                        _synced = Math.Max(_synced, written);
                    }

                    for (int i = _waiters.Count - 1; i >= 0; i--)
                    {
                        var (position, done) = _waiters[i];
                        if (position <= written)
                        {
                            ready.Add(done);
                            _waiters.RemoveAt(i);
                        }
                    }
                }

                // Outside the lock: a continuation run here may append (and wait) again.
                foreach (var done in ready)
                {
                    _ = error is null ? done.TrySetResult() : done.TrySetException(error);
                }

                ready.Clear();
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _stop = true;
                Monitor.Pulse(_gate);
            }

            // A waiter's continuation runs on the sync thread: if it is what disposes the trail, it must not join itself.
            if (Thread.CurrentThread != _thread)
            {
                _thread.Join();
            }
        }
    }
}

/// <summary>The trail could not be written; the message is one line, safe to show (SPEC: 58000 "audit unavailable").</summary>
public sealed class AuditUnavailableException(string message) : Exception(message);

/// <summary>Holds records back to append them with its next one; <see cref="ReleaseHeld"/> appends them now, on their own.</summary>
public interface IHeldRecords
{
    void ReleaseHeld();
}
