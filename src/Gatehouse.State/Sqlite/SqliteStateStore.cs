using System.Data.Common;
using Gatehouse.State.Sql;
using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Sqlite;

/// <summary>
/// A state store in one SQLite file (WAL mode): one writer connection behind <see cref="SqliteWriter"/>,
/// reads on pooled connections of their own, which WAL lets run beside the writer.
/// </summary>
internal sealed class SqliteStateStore : IStateStore, ISqlStore
{
    private readonly string _readerConnectionString;
    private readonly SqliteWriter _writer;
    private readonly Lock _readersLock = new();
    private SqliteFileIdentity? _readersFile;
    private int _disposed;

    private SqliteStateStore(string path, string readerConnectionString, SqliteWriter writer)
    {
        Path = path;
        _readerConnectionString = readerConnectionString;
        _writer = writer;
        _readersFile = SqliteFileIdentity.Of(path);
        Leases = new SqlLeaseStore(this);
        Audit = new SqliteAuditStore(this);
        Reviews = new SqlReviewStore(this);
    }

    /// <summary>The database file, absolute.</summary>
    public string Path { get; }

    public ILeaseStore Leases { get; }

    public IAuditStore Audit { get; }

    /// <summary>Changes signal this instance's waiters only: a SQLite file serves one instance (callers also poll).</summary>
    public IReviewStore Reviews { get; }

    /// <summary>One instance per file: its policy file is the only copy, so there is nothing to distribute.</summary>
    public IPolicyDocumentStore? Policies => null;

    public Task CheckAsync(CancellationToken ct) =>
        ReadAsync(async (cmd, token) =>
        {
            cmd.CommandText = "SELECT 1";
            return await cmd.ExecuteScalarAsync(token);
        }, ct);

    public StateWriterStats WriterStats => _writer.Stats;

    public SqlDialect Dialect => SqlDialect.Sqlite;

    /// <summary>Opens (creating it if need be) and migrates the file; start-up only, this blocks.</summary>
    public static StateStoreResult Open(string path, StateStoreOptions options) => Open(path, options, TimeProvider.System);

    internal static StateStoreResult Open(string path, StateStoreOptions options, TimeProvider time)
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

        CreateOwnerOnly(full);

        // The writer's connection is not pooled, so closing it (the file was deleted) really lets the file go.
        // Readers never create the file: a read while it is missing fails instead of leaving an empty one behind.
        var writerConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
        var readerConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        var (connection, error) = SqliteWriter.Connect(writerConnectionString, full, options.Durability, time);
        if (connection is null)
            return StateStoreResult.Failure(error!);
        return StateStoreResult.Opened(new SqliteStateStore(full, readerConnectionString, new SqliteWriter(connection, full, options.Durability, time)));
    }

    // The file holds the audit trail (SQL, identities): a new one is the owner's only, and SQLite gives its -wal and
    // -shm files the database file's mode. An existing file keeps the mode its operator gave it.
    private static void CreateOwnerOnly(string path)
    {
        if (OperatingSystem.IsWindows() || File.Exists(path))
            return;
        try
        {
            using var created = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Another instance created it first, or the folder is not writable: opening it says which.
        }
    }

    /// <summary>Queues a write for the store's one writer; see <see cref="StoreWriter{TCommand}.WriteAsync{T}"/>.</summary>
    public Task<T> WriteAsync<T>(Func<DbCommand, CancellationToken, Task<T>> run, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _writer.WriteAsync(run, ct);
    }

    public Task<T> WriteCompletingInlineAsync<T>(Func<DbCommand, CancellationToken, Task<T>> run, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _writer.WriteCompletingInlineAsync(run, ct);
    }

    /// <summary>
    /// Runs a query on a pooled connection of its own, on the thread pool: Microsoft.Data.Sqlite's async
    /// methods complete synchronously, and the caller's thread may be a socket's.
    /// </summary>
    public Task<T> ReadAsync<T>(Func<DbCommand, CancellationToken, Task<T>> query, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Task.Run(async () =>
        {
            CheckFileForReaders();
            await using var connection = new SqliteConnection(_readerConnectionString);
            await connection.OpenAsync(ct);
            await using var command = connection.CreateCommand();
            return await query(command, ct);
        }, ct);
    }

    /// <summary>
    /// Pooled readers keep the file they opened: once the path names another file (or none), they would
    /// read a deleted one. Drop them, and refuse to read while there is no file.
    /// </summary>
    private void CheckFileForReaders()
    {
        var file = SqliteFileIdentity.Of(Path);
        lock (_readersLock)
        {
            if (file != _readersFile)
            {
                using var pool = new SqliteConnection(_readerConnectionString);
                SqliteConnection.ClearPool(pool);
                _readersFile = file;
            }
        }
        if (file is null)
            throw SqliteWriter.Gone(Path);
    }

    /// <summary>Tests: holds the writer so that writes queue up (see <see cref="StoreWriter{TCommand}.Hold"/>).</summary>
    internal IDisposable HoldWriter() => _writer.Hold();

    /// <summary>Finishes the writes already queued, then releases the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _writer.DisposeAsync();
        using var pool = new SqliteConnection(_readerConnectionString);
        SqliteConnection.ClearPool(pool);
    }
}
