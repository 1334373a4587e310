using Microsoft.Data.Sqlite;

namespace Gatehouse.State.Sqlite;

/// <summary>
/// The one writer of a SQLite store (queue and group commit: <see cref="StoreWriter{TCommand}"/>).
/// Microsoft.Data.Sqlite's async methods complete synchronously, which is why they run only here (on a
/// pool thread) and never on the caller's thread, which may be a socket's.
/// <para>
/// Before each transaction the writer checks that the path still names the file it opened: a file deleted
/// or replaced while running faults the batch (SQLite would write on into the unlinked file, and those
/// writes would be lost). The connection is then closed; once a file is at the path again (an operator
/// restored it) the next batch opens it, applies pending migrations, and writes succeed again.
/// </para>
/// </summary>
internal sealed class SqliteWriter : StoreWriter<SqliteCommand>
{
    private readonly string _path;
    private readonly string _connectionString;
    private readonly AuditDurability _durability;
    private readonly TimeProvider _time;
    private SqliteConnection? _connection;
    private SqliteFileIdentity? _identity;

    /// <summary>Takes over <paramref name="connection"/> (open, migrated, from <see cref="Connect"/>) as the store's only writing connection.</summary>
    public SqliteWriter(SqliteConnection connection, string path, AuditDurability durability, TimeProvider time)
        : base(nameof(SqliteStateStore))
    {
        _connection = connection;
        _connectionString = connection.ConnectionString;
        _path = path;
        _durability = durability;
        _time = time;
        _identity = SqliteFileIdentity.Of(path);
        Start();
    }

    /// <summary>
    /// Opens <paramref name="connectionString"/>'s file, puts it in WAL mode, applies pending migrations and sets
    /// the durability. Blocks. Returns the open connection, or the operator's error line.
    /// </summary>
    public static (SqliteConnection? Connection, string? Error) Connect(string connectionString, string path, AuditDurability durability, TimeProvider time)
    {
        var connection = new SqliteConnection(connectionString);
        string? error;
        try
        {
            connection.Open();
            error = SqliteMigrations.Apply(connection, path, time);
            if (error is null)
            {
                using var command = connection.CreateCommand();
                // WAL at NORMAL syncs only at checkpoints: a commit survives a process crash, not an OS crash.
                command.CommandText = durability == AuditDurability.Os ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
                command.ExecuteNonQuery();
            }
        }
        catch (SqliteException ex)
        {
            error = $"state: cannot open sqlite:{path}: {ex.Message}";
        }
        if (error is null)
            return (connection, null);
        connection.Dispose();
        return (null, error);
    }

    protected override async Task BeginAsync()
    {
        if (_connection is not null && SqliteFileIdentity.Of(_path) != _identity)
        {
            await CloseAsync();
            throw Gone(_path);
        }
        if (_connection is null)
        {
            if (SqliteFileIdentity.Of(_path) is null)
                throw Gone(_path);
            var (connection, error) = Connect(_connectionString, _path, _durability, _time);
            if (connection is null)
                throw new IOException(error);
            _connection = connection;
            _identity = SqliteFileIdentity.Of(_path);
        }
        await ExecuteAsync("BEGIN IMMEDIATE");
    }

    protected override SqliteCommand CreateCommand() => _connection!.CreateCommand();

    protected override Task CommitAsync() => ExecuteAsync("COMMIT");

    protected override async Task RollBackAsync()
    {
        if (_connection is null || SQLitePCL.raw.sqlite3_get_autocommit(_connection.Handle) != 0)
            return; // no transaction open (BEGIN failed, or SQLite already rolled it back)
        try
        {
            await ExecuteAsync("ROLLBACK");
        }
        catch (SqliteException)
        {
            // A connection stuck inside a transaction would fail every later write: the next batch starts afresh.
            await CloseAsync();
        }
    }

    // SQLite errors are the write's own (a constraint) or the file's (full, read-only): either way a retry
    // alone is safe, since a failed COMMIT in SQLite rolled the transaction back.
    protected override bool IsLost(Exception error) => false;

    protected override async ValueTask CloseAsync()
    {
        if (_connection is null)
            return;
        await _connection.DisposeAsync();
        _connection = null;
    }

    public static IOException Gone(string path) => new($"state: sqlite:{path} was deleted or replaced while running");

    private async Task ExecuteAsync(string sql)
    {
        await using var command = _connection!.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
