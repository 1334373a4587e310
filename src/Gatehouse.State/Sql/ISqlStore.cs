using System.Data.Common;

namespace Gatehouse.State.Sql;

/// <summary>
/// What the repositories shared by the SQLite and PostgreSQL stores need of a store: its writer, reads on
/// connections of their own, and its dialect. Both engines take <c>@name</c> parameters, row values and
/// <c>ON CONFLICT</c>, so one SQL text serves both; they differ in table names and in how a time is kept.
/// </summary>
internal interface ISqlStore
{
    SqlDialect Dialect { get; }

    /// <summary>Queues a write for the store's one writer; completes once its transaction committed.</summary>
    Task<T> WriteAsync<T>(Func<DbCommand, CancellationToken, Task<T>> run, CancellationToken ct);

    /// <summary>The same, with the caller's continuation run on the writer; see <see cref="StoreWriter{TCommand}.WriteCompletingInlineAsync{T}"/>.</summary>
    Task<T> WriteCompletingInlineAsync<T>(Func<DbCommand, CancellationToken, Task<T>> run, CancellationToken ct);

    /// <summary>Runs a query on a connection of its own, never on the caller's thread if the driver is synchronous.</summary>
    Task<T> ReadAsync<T>(Func<DbCommand, CancellationToken, Task<T>> query, CancellationToken ct);
}

/// <summary>
/// Where the engines differ. Times are kept to the millisecond in both (SQLite: Unix milliseconds; PostgreSQL:
/// timestamptz truncated to the millisecond), so a value read back compares equal to the one written.
/// <see cref="LockRow"/> ends a SELECT inside the writer's transaction that must hold the row until COMMIT:
/// <c>FOR UPDATE</c> on PostgreSQL; nothing on SQLite, whose writers already hold the file (<c>BEGIN IMMEDIATE</c>).
/// </summary>
internal sealed record SqlDialect(string TablePrefix, Func<DateTimeOffset, object> Time, Func<DbDataReader, int, DateTimeOffset> ReadTime, string LockRow)
{
    public static SqlDialect Sqlite { get; } = new(
        "",
        time => time.ToUnixTimeMilliseconds(),
        (reader, i) => DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(i)),
        "");

    public static SqlDialect Postgres { get; } = new(
        "gatehouse_",
        time => DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds()).UtcDateTime,
        (reader, i) => reader.GetFieldValue<DateTimeOffset>(i),
        " FOR UPDATE");

    public string Table(string name) => TablePrefix + name;

    public static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }
}
