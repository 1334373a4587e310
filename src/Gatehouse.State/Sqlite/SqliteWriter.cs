using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Sqlite;

/// <summary>
/// The one writer of a SQLite store: the only connection that writes, fed by a bounded queue.
/// <code>
///  caller: WriteAsync(run) ─► bounded queue (full ⇒ the caller awaits room) ─► awaits its own task
///                                   │
///  writer task: wait for a write ─► take everything queued (≤ MaxBatch; drop writes already cancelled)
///    ─► BEGIN IMMEDIATE; run each write; COMMIT ─► complete every write's task
///         │ a write or the COMMIT fails
///         ▼ ROLLBACK; run each write alone, in its own transaction ─► complete or fault each task
/// </code>
/// Writes queued while a transaction commits share the next one, so a burst costs one commit (one fsync),
/// not one per write. Tasks complete asynchronously: a caller's continuation never runs on the writer.
/// Microsoft.Data.Sqlite's async methods complete synchronously, which is why they run only here (on a
/// pool thread) and never on the caller's thread, which may be a socket's.
/// </summary>
internal sealed class SqliteWriter : IAsyncDisposable
{
    internal const int Capacity = 1024;
    internal const int MaxBatch = 256;

    private readonly Channel<SqliteWrite> _queue = Channel.CreateBounded<SqliteWrite>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly string _connectionString;
    private readonly Task _loop;
    private SqliteConnection _connection;
    private TaskCompletionSource? _hold;
    private Exception? _crash;
    private long _writes;
    private long _transactions;
    private long _failed;

    /// <summary>Takes over <paramref name="connection"/> (open, migrated) as the store's only writing connection.</summary>
    public SqliteWriter(SqliteConnection connection, string connectionString)
    {
        _connection = connection;
        _connectionString = connectionString;
        _loop = Task.Run(RunAsync);
    }

    public StateWriterStats Stats => new(Interlocked.Read(ref _writes), Interlocked.Read(ref _transactions), Interlocked.Read(ref _failed));

    /// <summary>
    /// Queues <paramref name="run"/> and completes once its transaction committed. A write still queued when
    /// <paramref name="ct"/> fires is skipped (the task is cancelled); one already running is not interrupted.
    /// </summary>
    public async Task<T> WriteAsync<T>(Func<SqliteCommand, CancellationToken, Task<T>> run, CancellationToken ct)
    {
        var write = new SqliteWrite<T>(run, ct);
        try
        {
            await _queue.Writer.WriteAsync(write, ct);
        }
        catch (ChannelClosedException)
        {
            throw _crash is null
                ? new ObjectDisposedException(nameof(SqliteStateStore))
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
        await _connection.DisposeAsync();
    }

    private async Task RunAsync()
    {
        var batch = new List<SqliteWrite>(MaxBatch);
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
                    await CommitAsync(batch);
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

    private async Task CommitAsync(List<SqliteWrite> batch)
    {
        var error = await TryTransactionAsync(batch);
        if (error is null)
        {
            foreach (var write in batch)
                write.Complete();
            return;
        }

        if (batch.Count == 1)
        {
            Fail(batch[0], error);
            return;
        }

        // One bad write must not fail the others: the batch was rolled back, so run each on its own.
        foreach (var write in batch)
        {
            var alone = await TryTransactionAsync([write]);
            if (alone is null)
                write.Complete();
            else
                Fail(write, alone);
        }
    }

    /// <summary>Runs the writes in one transaction; null when it committed, else the error (and it was rolled back).</summary>
    private async Task<Exception?> TryTransactionAsync(IReadOnlyList<SqliteWrite> writes)
    {
        try
        {
            await ExecuteAsync("BEGIN IMMEDIATE");
            foreach (var write in writes)
            {
                await using var command = _connection.CreateCommand();
                await write.ExecuteAsync(command);
            }
            await ExecuteAsync("COMMIT");
        }
        catch (Exception ex)
        {
            await RollBackAsync();
            return ex;
        }

        Interlocked.Increment(ref _transactions);
        Interlocked.Add(ref _writes, writes.Count);
        return null;
    }

    private async Task RollBackAsync()
    {
        if (SQLitePCL.raw.sqlite3_get_autocommit(_connection.Handle) != 0)
            return; // no transaction open (BEGIN failed, or SQLite already rolled it back)
        try
        {
            await ExecuteAsync("ROLLBACK");
        }
        catch (SqliteException)
        {
            // A connection stuck inside a transaction would fail every later write: start afresh.
            await _connection.DisposeAsync();
            _connection = new SqliteConnection(_connectionString);
            await _connection.OpenAsync();
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var command = _connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private void Fail(SqliteWrite write, Exception error)
    {
        Interlocked.Increment(ref _failed);
        write.Fail(error);
    }

    private sealed class Held(SqliteWriter writer, TaskCompletionSource hold) : IDisposable
    {
        public void Dispose()
        {
            Interlocked.CompareExchange(ref writer._hold, null, hold);
            hold.TrySetResult();
        }
    }
}

/// <summary>One queued write: its statements and the task its caller awaits.</summary>
internal abstract class SqliteWrite(CancellationToken cancellation)
{
    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>Runs the write inside the writer's open transaction; the result is kept until the commit.</summary>
    public abstract Task ExecuteAsync(SqliteCommand command);

    public abstract void Complete();

    public abstract void Fail(Exception error);

    public abstract void Cancel();
}

internal sealed class SqliteWrite<T>(Func<SqliteCommand, CancellationToken, Task<T>> run, CancellationToken cancellation) : SqliteWrite(cancellation)
{
    private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T? _result;

    public Task<T> Task => _done.Task;

    public override async Task ExecuteAsync(SqliteCommand command) => _result = await run(command, CancellationToken.None);

    public override void Complete() => _done.TrySetResult(_result!);

    public override void Fail(Exception error) => _done.TrySetException(error);

    public override void Cancel() => _done.TrySetCanceled(Cancellation);
}
