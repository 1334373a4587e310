using System.Data.Common;
using Gatehouse.State.Sql;
using Npgsql;

namespace Gatehouse.State.Postgres;

/// <summary>
/// A state store in a PostgreSQL database, which several Gatehouse instances may share: one writer
/// connection behind <see cref="PostgresWriter"/>, reads on pooled connections of an
/// <see cref="NpgsqlDataSource"/>. Tables are <c>gatehouse_*</c> in the connection's default schema.
/// </summary>
internal sealed class PostgresStateStore : IStateStore, ISqlStore
{
    private readonly NpgsqlDataSource _source;
    private readonly PostgresWriter _writer;
    private readonly PostgresNotificationListener _listener;
    private int _disposed;

    private PostgresStateStore(NpgsqlDataSource source, NpgsqlConnectionStringBuilder settings, AuditDurability durability, string where)
    {
        _source = source;
        Where = where;
        _writer = new PostgresWriter(source, durability);
        var reviews = new ChangeSignal();
        var policies = new ChangeSignal();
        _listener = new PostgresNotificationListener(settings, new Dictionary<string, ChangeSignal>
        {
            [PostgresReviewStore.Channel] = reviews,
            [PostgresPolicyStore.Channel] = policies,
        });
        Leases = new SqlLeaseStore(this);
        Audit = new PostgresAuditStore(this);
        Reviews = new PostgresReviewStore(this, _listener, reviews);
        Policies = new PostgresPolicyStore(this, _listener, policies);
    }

    /// <summary>postgres://HOST:PORT/DATABASE, safe to print.</summary>
    public string Where { get; }

    public ILeaseStore Leases { get; }

    public IAuditStore Audit { get; }

    public IReviewStore Reviews { get; }

    public IPolicyDocumentStore? Policies { get; }

    public Task CheckAsync(CancellationToken ct) =>
        ReadAsync(async (cmd, token) =>
        {
            cmd.CommandText = "SELECT 1";
            return await cmd.ExecuteScalarAsync(token);
        }, ct);

    /// <summary>Tests: the LISTEN connection's state.</summary>
    internal PostgresNotificationListener Listener => _listener;

    public StateWriterStats WriterStats => _writer.Stats;

    public SqlDialect Dialect => SqlDialect.Postgres;

    /// <summary>Connects and migrates; start-up only, this blocks. Errors never repeat the URI.</summary>
    public static StateStoreResult Open(string uri, StateStoreOptions options)
    {
        var (settings, error) = PostgresStoreUri.Parse(uri, Environment.GetEnvironmentVariable);
        if (settings is null)
            return StateStoreResult.Failure(error!);
        var where = PostgresStoreUri.Describe(settings);
        var source = NpgsqlDataSource.Create(settings);
        try
        {
            using var connection = source.OpenConnection();
            error = PostgresMigrations.Apply(connection, where);
        }
        catch (NpgsqlException ex)
        {
            error = $"state: cannot open {where}: {OneLine(ex, settings.Password)}";
        }
        if (error is not null)
        {
            source.Dispose();
            return StateStoreResult.Failure(error);
        }
        return StateStoreResult.Opened(new PostgresStateStore(source, settings, options.Durability, where));
    }

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

    /// <summary>Runs a query on a pooled connection of its own (Npgsql is truly asynchronous: no thread is held).</summary>
    public async Task<T> ReadAsync<T>(Func<DbCommand, CancellationToken, Task<T>> query, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await using var connection = await _source.OpenConnectionAsync(ct);
        await using var command = connection.CreateCommand();
        return await query(command, ct);
    }

    /// <summary>Tests: holds the writer so that writes queue up.</summary>
    internal IDisposable HoldWriter() => _writer.Hold();

    /// <summary>Finishes the writes already queued, then closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _listener.DisposeAsync();
        await _writer.DisposeAsync();
        await _source.DisposeAsync();
    }

    /// <summary>The error's message on one line, with the password blotted out should a driver ever echo it.</summary>
    private static string OneLine(Exception ex, string? password)
    {
        var message = ex is PostgresException pg ? $"{pg.SqlState}: {pg.MessageText}" : ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message;
        if (!string.IsNullOrEmpty(password))
            message = message.Replace(password, "***", StringComparison.Ordinal);
        return message.ReplaceLineEndings(" ");
    }
}
