using System.Data;
using Npgsql;

namespace Gatehouse.State.Postgres;

/// <summary>
/// The one writer of a PostgreSQL store (queue and group commit: <see cref="StoreWriter{TCommand}"/>), on a
/// connection of its own from the store's data source. Npgsql is truly asynchronous, so the writer never
/// holds a thread while the server works. A connection found broken before COMMIT (server restarted while
/// the writer was idle) is replaced and the batch run again; one that breaks again, or during COMMIT
/// (which may or may not have happened), faults the whole batch; the next batch opens a new connection.
/// </summary>
internal sealed class PostgresWriter : StoreWriter<NpgsqlCommand>
{
    private readonly NpgsqlDataSource _source;
    private readonly AuditDurability _durability;
    private NpgsqlConnection? _connection;
    private NpgsqlTransaction? _transaction;

    public PostgresWriter(NpgsqlDataSource source, AuditDurability durability) : base(nameof(PostgresStateStore))
    {
        _source = source;
        _durability = durability;
        Start();
    }

    protected override async Task BeginAsync()
    {
        if (_connection is not { FullState: ConnectionState.Open })
        {
            await CloseAsync();
            var connection = await _source.OpenConnectionAsync();
            try
            {
                // off: committed once the server has it (a Gatehouse crash cannot lose it); on: once it is flushed to disk.
                await using var set = new NpgsqlCommand(
                    _durability == AuditDurability.Os ? "SET synchronous_commit = on" : "SET synchronous_commit = off", connection);
                await set.ExecuteNonQueryAsync();
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
            _connection = connection;
        }
        _transaction = await _connection.BeginTransactionAsync();
    }

    protected override NpgsqlCommand CreateCommand() => new() { Connection = _connection, Transaction = _transaction };

    protected override async Task CommitAsync()
    {
        await _transaction!.CommitAsync();
        await _transaction.DisposeAsync();
        _transaction = null;
    }

    protected override async Task RollBackAsync()
    {
        var transaction = _transaction;
        _transaction = null;
        if (transaction is null)
            return;
        try
        {
            if (_connection is { FullState: ConnectionState.Open })
                await transaction.RollbackAsync();
            await transaction.DisposeAsync();
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            await CloseAsync(); // the next batch starts on a new connection
        }
    }

    // A PostgresException on a connection still open is the server refusing one statement; an
    // NpgsqlException of another kind (I/O, timeout) or a connection no longer open (a FATAL ended the
    // session) means the connection is gone. Other exceptions are the write's own, like a constraint.
    protected override bool IsLost(Exception error) =>
        error is NpgsqlException and not PostgresException || _connection is not { FullState: ConnectionState.Open };

    protected override async ValueTask CloseAsync()
    {
        if (_connection is null)
            return;
        try
        {
            await _connection.DisposeAsync();
        }
        catch (NpgsqlException)
        {
            // already broken: nothing to release on the server
        }
        _connection = null;
    }
}
