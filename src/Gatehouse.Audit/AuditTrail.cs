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
}

/// <summary>Counters for /metrics and the benchmark: records per store transaction is the group commit at work.</summary>
public readonly record struct AuditTrailStats(long Records, long Batches, long FailedRecords, int Queued, double LastBatchMs);

/// <summary>
/// The writer of this process's chain.
/// <code>
///  caller: Append(kind, session, record) ─► body serialized on the caller ─► queue ─► Task (durable | faulted)
///  writer: take everything queued (≤ MaxBatch) ─► seq and MAC for each, continuing from the durable head
///          ─► store.AppendAsync(rows): one transaction ─► head moves on; every task completes
///                         │ fails
///                         ▼ every task of the batch faults; the head stays, so the next batch continues the chain
/// </code>
/// Callers never wait on the store on their own thread: they await their record's task. A chain only ever holds
/// records that were stored in order, so a failed batch leaves no gap.
/// </summary>
public sealed class AuditTrail : IAsyncDisposable
{
    public const int MaxBatch = 512;

    /// <summary>The longest a lazily appended record waits for a batch to join.</summary>
    public static readonly TimeSpan LazyFlush = TimeSpan.FromMilliseconds(50);
    private const int Capacity = 16 * 1024;

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly IAuditStore _store;
    private readonly AuditKey _key;
    private readonly TimeProvider _time;
    private readonly Task _loop;
    private readonly System.Collections.Concurrent.ConcurrentQueue<Pending> _lazy = new();
    private readonly ITimer _lazyTimer;
    private int _lazyArmed;

    // Order of appends, so lazy and awaited records take their place in the chain in the order they came.
    private long _order;
    private long _seq;
    private byte[] _head = AuditKey.Genesis;
    private long _records;
    private long _batches;
    private long _failed;
    private double _lastBatchMs;
    private volatile string? _lastError;

    public AuditTrail(IAuditStore store, AuditKey key, AuditTrailOptions options, TimeProvider time)
    {
        _store = store;
        _key = key;
        _time = time;
        Options = options;
        _lazyTimer = time.CreateTimer(_ => FlushLazy(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _loop = Task.Run(RunAsync);
    }

    public AuditTrailOptions Options { get; }

    /// <summary>The chain's key (for retention's anchors).</summary>
    public AuditKey Key => _key;

    public string Chain => Options.Chain;

    /// <summary>The last store write failed (and no later one succeeded yet); the reason is <see cref="LastError"/>.</summary>
    public bool Healthy => _lastError is null;

    public string? LastError => _lastError;

    public AuditTrailStats Stats => new(
        Interlocked.Read(ref _records), Interlocked.Read(ref _batches), Interlocked.Read(ref _failed), _queue.Reader.Count, Volatile.Read(ref _lastBatchMs));

    /// <summary>Writes the chain's first record and waits until it is stored: a store that cannot be written stops start-up.</summary>
    public Task StartAsync(CancellationToken ct) =>
        Append(AuditKinds.ChainStarted, null, AuditJson.Write(new ChainStartedRecord(Options.Chain, Environment.MachineName, Environment.ProcessId, Options.Version)), ct);

    /// <summary>Queues one record; the task completes once it is durable, or faults with <see cref="AuditUnavailableException"/>.</summary>
    public Task Append<T>(string kind, string? session, T record, CancellationToken ct = default) => Append(kind, session, AuditJson.Write(record), ct);

    /// <summary>Queues a record whose body is JSON the caller made (records of other components, e.g. reviews).</summary>
    public Task AppendJson(string kind, string? session, string body, CancellationToken ct = default) => Append(kind, session, body, ct);

    /// <summary>
    /// Queues a record nobody waits for (an outcome, after the client saw it) without waking the writer: it goes
    /// with the next batch, or within <see cref="LazyFlush"/>. Saves a thread wake-up per statement. Only for a
    /// record whose caller has awaited the records it must follow (an outcome comes after its statement's record
    /// was seen durable): it is stored in append order relative to what is appended after it, not before.
    /// </summary>
    public void AppendLazily<T>(string kind, string? session, T record)
    {
        _lazy.Enqueue(new Pending(kind, session, AuditJson.Write(record), _time.GetUtcNow(), Interlocked.Increment(ref _order)));
        if (Interlocked.Exchange(ref _lazyArmed, 1) == 0)
        {
            _lazyTimer.Change(LazyFlush, Timeout.InfiniteTimeSpan);
        }
    }

    private Task Append(string kind, string? session, string body, CancellationToken ct)
    {
        var pending = new Pending(kind, session, body, _time.GetUtcNow(), Interlocked.Increment(ref _order));
        if (!_queue.Writer.TryWrite(pending))
        {
            return QueueAsync(pending, ct);
        }

        return pending.Done.Task;
    }

    // Wakes the writer for lazy records that found no batch to join.
    private void FlushLazy()
    {
        Volatile.Write(ref _lazyArmed, 0);
        if (!_lazy.IsEmpty)
        {
            _queue.Writer.TryWrite(Pending.Wake);
        }
    }

    private async Task QueueAsync(Pending pending, CancellationToken ct)
    {
        try
        {
            await _queue.Writer.WriteAsync(pending, ct);
        }
        catch (ChannelClosedException)
        {
            throw new AuditUnavailableException("the audit trail is closed");
        }

        await pending.Done.Task;
    }

    private async Task RunAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        var rows = new List<AuditRow>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
            {
                if (!ReferenceEquals(pending, Pending.Wake))
                {
                    batch.Add(pending);
                }
            }

            // Every lazy record, read after the queue: one appended before a record taken above is in the lazy
            // queue by now (a session appends in sequence), and what it follows is already stored (the contract
            // of AppendLazily). Sorted by append number, each lands before what its session appended after it.
            while (_lazy.TryDequeue(out var lazy))
            {
                batch.Add(lazy);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            batch.Sort(static (a, b) => a.Order.CompareTo(b.Order));

            long seq = _seq;
            var previous = _head;
            foreach (var pending in batch)
            {
                seq++;
                var mac = _key.Mac(Options.Chain, seq, pending.Time, pending.Kind, pending.Session, pending.Body, previous);
                rows.Add(new AuditRow(Options.Chain, seq, pending.Time, pending.Kind, pending.Session, pending.Body, mac));
                previous = mac;
            }

            var started = Stopwatch.GetTimestamp();
            Exception? failure = null;
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
                _seq = seq;
                _head = previous;
                _lastError = null;
                Interlocked.Add(ref _records, batch.Count);
                Interlocked.Increment(ref _batches);
                foreach (var pending in batch)
                {
                    pending.Done.TrySetResult();
                }
            }
            else
            {
                var error = new AuditUnavailableException(OneLine(failure));
                _lastError = error.Message;
                Interlocked.Add(ref _failed, batch.Count);
                foreach (var pending in batch)
                {
                    pending.Done.TrySetException(error);
                }
            }

            batch.Clear();
            rows.Clear();
        }
    }

    private static string OneLine(Exception ex)
    {
        var message = ex.GetBaseException().Message;
        int newline = message.IndexOfAny(['\r', '\n']);
        return newline < 0 ? message : message[..newline];
    }

    /// <summary>Writes the chain's closing record, then lets the writer finish everything queued.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            var end = Append(AuditKinds.ChainEnded, null, AuditJson.Write(new ChainEndedRecord(Options.Chain, Interlocked.Read(ref _records) + 1)), CancellationToken.None);
            _queue.Writer.TryComplete();
            await end.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is AuditUnavailableException or TimeoutException)
        {
            // The trail ends without its closing record; verify reports that, as it does for a crash.
        }

        _queue.Writer.TryComplete();
        await _loop;
        _lazyTimer.Dispose();
    }

    private sealed class Pending(string kind, string? session, string body, DateTimeOffset time, long order)
    {
        /// <summary>Not a record: wakes the writer for lazy records.</summary>
        public static readonly Pending Wake = new(string.Empty, null, string.Empty, default, 0);

        public long Order { get; } = order;

        public string Kind { get; } = kind;

        public string? Session { get; } = session;

        public string Body { get; } = body;

        public DateTimeOffset Time { get; } = time;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>The trail could not be written; the message is one line, safe to show (SPEC: 58000 "audit unavailable").</summary>
public sealed class AuditUnavailableException(string message) : Exception(message);
