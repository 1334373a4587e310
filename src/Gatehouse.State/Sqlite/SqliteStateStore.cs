using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Sqlite;

/// <summary>
/// A state store in one SQLite file (WAL mode): one writer connection behind <see cref="SqliteWriter"/>,
/// reads on pooled connections of their own, which WAL lets run beside the writer.
/// </summary>
internal sealed class SqliteStateStore : IStateStore
{
    private readonly string _connectionString;
    private readonly SqliteWriter _writer;
    private int _disposed;

    private SqliteStateStore(string path, string connectionString, SqliteConnection writerConnection)
    {
        Path = path;
        _connectionString = connectionString;
        _writer = new SqliteWriter(writerConnection, connectionString);
        Leases = new SqliteLeaseStore(this);
    }

    /// <summary>The database file, absolute.</summary>
    public string Path { get; }

    public ILeaseStore Leases { get; }

    public StateWriterStats WriterStats => _writer.Stats;

    /// <summary>Opens (creating it if need be) and migrates the file; start-up only, this blocks.</summary>
    public static StateStoreResult Open(string path) => Open(path, TimeProvider.System);

    internal static StateStoreResult Open(string path, TimeProvider time)
    {
        if (string.IsNullOrWhiteSpace(path))
            return StateStoreResult.Failure("state: sqlite: needs a file path, e.g. sqlite:gatehouse-state.db");

        string full;
        try
        {
            full = System.IO.Path.GetFullPath(path);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return StateStoreResult.Failure($"state: cannot open sqlite:{path}: {ex.Message}");
        }

        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        var connection = new SqliteConnection(connectionString);
        string? error;
        try
        {
            connection.Open();
            error = SqliteMigrations.Apply(connection, full, time);
        }
        catch (SqliteException ex)
        {
            error = $"state: cannot open sqlite:{full}: {ex.Message}";
        }

        if (error is not null)
        {
            connection.Dispose();
            SqliteConnection.ClearPool(connection);
            return StateStoreResult.Failure(error);
        }
        return StateStoreResult.Opened(new SqliteStateStore(full, connectionString, connection));
    }

    /// <summary>Queues a write for the store's one writer; see <see cref="SqliteWriter.WriteAsync{T}"/>.</summary>
    internal Task<T> WriteAsync<T>(Func<SqliteCommand, CancellationToken, Task<T>> run, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _writer.WriteAsync(run, ct);
    }

    /// <summary>
    /// Runs a query on a pooled connection of its own, on the thread pool: Microsoft.Data.Sqlite's async
    /// methods complete synchronously, and the caller's thread may be a socket's.
    /// </summary>
    internal Task<T> ReadAsync<T>(Func<SqliteCommand, CancellationToken, Task<T>> query, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Task.Run(async () =>
        {
            await using var connection = new SqliteConnection(_connectionString);
            await connection.OpenAsync(ct);
            await using var command = connection.CreateCommand();
            return await query(command, ct);
        }, ct);
    }

    /// <summary>Tests: holds the writer so that writes queue up (see <see cref="SqliteWriter.Hold"/>).</summary>
    internal IDisposable HoldWriter() => _writer.Hold();

    /// <summary>Finishes the writes already queued, then releases the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _writer.DisposeAsync();
        using var pool = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(pool);
    }
}
