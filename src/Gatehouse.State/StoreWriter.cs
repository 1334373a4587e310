using System.Data.Common;
using System.Threading.Channels;

namespace Gatehouse.State;

/// <summary>
/// The one writer of a store: the only connection that writes, fed by a bounded queue. The queue, the
/// batching and the failure rules live here; a store says how to begin, commit and roll back.
/// <code>
///  caller: WriteAsync(run) ─► bounded queue (full ⇒ the caller awaits room) ─► awaits its own task
///                                   │
///  writer task: wait for a write ─► take everything queued (≤ MaxBatch; drop writes already cancelled)
///    ─► begin (reopen the connection if need be); run each write; commit ─► complete every write's task
///         │ the connection was lost before COMMIT ─► run the batch once more (nothing of it committed)
///         │ begin fails, or the connection was lost again or during COMMIT ─► fault every write of the
///         │                                    batch, never retried (a lost COMMIT may have happened)
///         │ a write or the commit fails
///         ▼ roll back; run each write alone, in its own transaction ─► complete or fault each task
/// </code>
/// Writes queued while a transaction commits share the next one, so a burst costs one commit (one fsync),
/// not one per write. Tasks complete asynchronously: a caller's continuation never runs on the writer, except the
/// audit trail's (<see cref="WriteCompletingInlineAsync{T}"/>): its writer only hands the next batch back, so it ping-pongs with this
/// one on one thread while records keep coming, instead of two thread-pool hops per batch.
/// </summary>
internal abstract class StoreWriter<TCommand> : IAsyncDisposable where TCommand : DbCommand
{
    internal const int Capacity = 1024;
    internal const int MaxBatch = 256;

    private readonly Channel<StoreWrite<TCommand>> _queue = Channel.CreateBounded<StoreWrite<TCommand>>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly string _storeName;
    private Task _loop = Task.CompletedTask;
    private TaskCompletionSource? _hold;
    private Exception? _crash;
    private long _writes;
    private long _transactions;
    private long _failed;

    protected StoreWriter(string storeName) => _storeName = storeName;

    public StateWriterStats Stats => new(Interlocked.Read(ref _writes), Interlocked.Read(ref _transactions), Interlocked.Read(ref _failed));

    /// <summary>Starts the writer task; call once, at the end of the derived constructor.</summary>
    protected void Start() => _loop = Task.Run(RunAsync);

    /// <summary>Opens a transaction, first (re)opening the connection if it is closed or broken.</summary>
    protected abstract Task BeginAsync();

    /// <summary>A command on the writer's connection, inside the open transaction.</summary>
    protected abstract TCommand CreateCommand();

    protected abstract Task CommitAsync();

    /// <summary>Rolls back the open transaction, if any; leaves the connection usable or closed, never stuck.</summary>
    protected abstract Task RollBackAsync();

    /// <summary>Whether <paramref name="error"/> means the connection or the store itself failed, not one write.</summary>
    protected abstract bool IsLost(Exception error);

    /// <summary>Closes the writer's connection at disposal.</summary>
    protected abstract ValueTask CloseAsync();

    /// <summary>
    /// Queues <paramref name="run"/> and completes once its transaction committed. A write still queued when
    /// <paramref name="ct"/> fires is skipped (the task is cancelled); one already running is not interrupted.
    /// </summary>
    public Task<T> WriteAsync<T>(Func<TCommand, CancellationToken, Task<T>> run, CancellationToken ct) => EnqueueAsync(run, false, ct);

    /// <summary>
    /// <see cref="WriteAsync{T}"/> whose caller's continuation runs on the writer: only for a caller that does no
    /// blocking or lengthy work there (the audit trail's writer, which only hands over its next batch).
    /// </summary>
    public Task<T> WriteCompletingInlineAsync<T>(Func<TCommand, CancellationToken, Task<T>> run, CancellationToken ct) => EnqueueAsync(run, true, ct);

    private async Task<T> EnqueueAsync<T>(Func<TCommand, CancellationToken, Task<T>> run, bool completeInline, CancellationToken ct)
    {
        var write = new StoreWrite<TCommand, T>(run, completeInline, ct);
        try
        {
            await _queue.Writer.WriteAsync(write, ct);
        }
        catch (ChannelClosedException)
        {
            throw _crash is null
                ? new ObjectDisposedException(_storeName)
                : new InvalidOperationException("the state store's writer stopped after an unexpected error", _crash);
        }
        return await write.Task;
    }

    /// <summary>Tests: the writer takes no new batch until the handle is disposed, so writes pile up in the queue.</summary>
    internal IDisposable Hold()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _hold, hold, null) is not null)
            throw new InvalidOperationException("the writer is already held");
        return new Held(this, hold);
    }

    /// <summary>Lets the writer finish every write already queued, then closes its connection.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        Interlocked.Exchange(ref _hold, null)?.TrySetResult();
        await _loop;
        await CloseAsync();
    }

    private async Task RunAsync()
    {
        var batch = new List<StoreWrite<TCommand>>(MaxBatch);
        try
        {
            while (await _queue.Reader.WaitToReadAsync())
            {
                if (Volatile.Read(ref _hold) is { } hold)
                    await hold.Task;
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var write))
                {
                    if (write.Cancellation.IsCancellationRequested)
                        write.Cancel();
                    else
                        batch.Add(write);
                }
                if (batch.Count > 0)
                    await CommitBatchAsync(batch);
                batch.Clear();
            }
        }
        catch (Exception ex)
        {
            // A bug, not a store failure (those fault only their own writes): stop and fail everything queued.
            _crash = ex;
            _queue.Writer.TryComplete();
            foreach (var write in batch)
                write.Fail(ex);
            while (_queue.Reader.TryRead(out var left))
                left.Fail(ex);
        }
    }

    private async Task CommitBatchAsync(List<StoreWrite<TCommand>> batch)
    {
        var (error, lost, retry) = await TryTransactionAsync(batch);
        if (retry)
        {
            // The connection was gone before COMMIT was sent (say the server restarted while the writer
            // was idle): nothing of the batch committed, so it is safe to run it once more on a new one.
            (error, lost, _) = await TryTransactionAsync(batch);
        }
        if (error is null)
        {
            foreach (var write in batch)
                write.Complete();
            return;
        }

        if (lost || batch.Count == 1)
        {
            foreach (var write in batch)
                Fail(write, error);
            return;
        }

        // One bad write must not fail the others: the batch was rolled back, so run each on its own.
        foreach (var write in batch)
        {
            var (alone, _, _) = await TryTransactionAsync([write]);
            if (alone is null)
                write.Complete();
            else
                Fail(write, alone);
        }
    }

    /// <summary>
    /// Runs the writes in one transaction: no error when it committed, else the error (rolled back), whether
    /// the store was lost, and whether running them again is safe and worth it: the connection was lost
    /// after it opened and before COMMIT (a failed COMMIT may have happened; a failed begin would fail again).
    /// </summary>
    private async Task<(Exception? Error, bool Lost, bool Retry)> TryTransactionAsync(IReadOnlyList<StoreWrite<TCommand>> writes)
    {
        try
        {
            await BeginAsync();
        }
        catch (Exception ex)
        {
            return (ex, true, false);
        }

        var committing = false;
        try
        {
            foreach (var write in writes)
            {
                await using var command = CreateCommand();
                await write.ExecuteAsync(command);
            }
            committing = true;
            await CommitAsync();
        }
        catch (Exception ex)
        {
            var lost = IsLost(ex);
            await RollBackAsync();
            return (ex, lost, lost && !committing);
        }

        Interlocked.Increment(ref _transactions);
        Interlocked.Add(ref _writes, writes.Count);
        return (null, false, false);
    }

    private void Fail(StoreWrite<TCommand> write, Exception error)
    {
        Interlocked.Increment(ref _failed);
        write.Fail(error);
    }

    private sealed class Held(StoreWriter<TCommand> writer, TaskCompletionSource hold) : IDisposable
    {
        public void Dispose()
        {
            Interlocked.CompareExchange(ref writer._hold, null, hold);
            hold.TrySetResult();
        }
    }
}

/// <summary>One queued write: its statements and the task its caller awaits.</summary>
internal abstract class StoreWrite<TCommand>(CancellationToken cancellation)
{
    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>Runs the write inside the writer's open transaction; the result is kept until the commit.</summary>
    public abstract Task ExecuteAsync(TCommand command);

    public abstract void Complete();

    public abstract void Fail(Exception error);

    public abstract void Cancel();
}

internal sealed class StoreWrite<TCommand, T>(Func<TCommand, CancellationToken, Task<T>> run, bool completeInline, CancellationToken cancellation) : StoreWrite<TCommand>(cancellation)
{
    private readonly TaskCompletionSource<T> _done = new(completeInline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
    private T? _result;

    public Task<T> Task => _done.Task;

    public override async Task ExecuteAsync(TCommand command) => _result = await run(command, CancellationToken.None);

    public override void Complete() => _done.TrySetResult(_result!);

    public override void Fail(Exception error) => _done.TrySetException(error);

    public override void Cancel() => _done.TrySetCanceled(Cancellation);
}
