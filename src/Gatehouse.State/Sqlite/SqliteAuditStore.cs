using Gatehouse.State.Sql;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Gatehouse.State.Sqlite;

/// <summary>
/// The SQLite audit store: reads are <see cref="SqlAuditStore"/>'s; a batch is inserted through one SQLite statement
/// prepared for the batch and bound per row. Microsoft.Data.Sqlite's command costs a few microseconds per execution
/// on top of SQLite's own work (a data reader per execution, parameters bound by name), and the audit writer stores
/// two rows per relayed transaction (AuditStoreBenchmarks measures it).
/// </summary>
internal sealed class SqliteAuditStore(ISqlStore store) : SqlAuditStore(store)
{
    public override Task AppendAsync(IReadOnlyList<AuditRow> rows, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            return Task.CompletedTask;
        return Store.WriteCompletingInlineAsync((cmd, _) =>
        {
            var database = ((SqliteCommand)cmd).Connection!.Handle!;
            Check(database, raw.sqlite3_prepare_v2(database, $"INSERT INTO {Records} ({Columns}) VALUES (?, ?, ?, ?, ?, ?, ?)", out sqlite3_stmt insert));
            using (insert)
            {
                foreach (var row in rows)
                {
                    raw.sqlite3_bind_text(insert, 1, row.Chain);
                    raw.sqlite3_bind_int64(insert, 2, row.Seq);
                    raw.sqlite3_bind_int64(insert, 3, (long)Dialect.Time(row.Time));
                    raw.sqlite3_bind_text(insert, 4, row.Kind);
                    if (row.SessionId is null)
                        raw.sqlite3_bind_null(insert, 5);
                    else
                        raw.sqlite3_bind_text(insert, 5, row.SessionId);
                    raw.sqlite3_bind_text(insert, 6, row.Body);
                    raw.sqlite3_bind_blob(insert, 7, row.Mac);
                    int stepped = raw.sqlite3_step(insert);
                    if (stepped != raw.SQLITE_DONE)
                        Check(database, stepped);
                    raw.sqlite3_reset(insert);
                }
            }
            return Task.FromResult(rows.Count);
        }, ct);
    }

    /// <summary>The same exception Microsoft.Data.Sqlite throws, so the writer treats a failed row as any other SQLite error.</summary>
    private static void Check(sqlite3 database, int result)
    {
        if (result != raw.SQLITE_OK)
            SqliteException.ThrowExceptionForRC(result, database);
    }
}
