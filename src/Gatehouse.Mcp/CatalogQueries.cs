using Npgsql;

namespace Gatehouse.Mcp;

/// <summary>
/// The catalog SQL behind list_tables and describe_table. It runs as the caller over the wire door, so the
/// privilege checks below are those of the caller's short-lived role: it sees what its grant's db_roles may read.
/// </summary>
internal static class CatalogQueries
{
    public const string Tables = """
        SELECT n.nspname, c.relname,
               CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' ELSE 'table' END
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
          AND ($1::text IS NULL OR n.nspname = $1::text)
          AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT')
        ORDER BY 1, 2
        """;

    public const string Columns = """
        SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, n.nspname, c.relname
        FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = pg_catalog.to_regclass($1::text) AND a.attnum > 0 AND NOT a.attisdropped
          AND pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT')
        ORDER BY a.attnum
        """;

    public sealed record CatalogRows(List<string?[]> Rows, bool Truncated);

    /// <summary>Reads at most <paramref name="max"/> rows of <paramref name="width"/> text values; the statement is cancelled past it.</summary>
    public static async Task<CatalogRows> ReadAsync(NpgsqlCommand command, int width, int max, CancellationToken ct)
    {
        var rows = new List<string?[]>();
        bool truncated = false;
        var reader = await command.ExecuteReaderAsync(ct);
        try
        {
            while (await reader.ReadAsync(ct))
            {
                if (rows.Count >= max)
                {
                    truncated = true;
                    command.Cancel();
                    break;
                }

                var row = new string?[width];
                for (int i = 0; i < width; i++)
                {
                    row[i] = await reader.IsDBNullAsync(i, ct) ? null : reader.GetString(i);
                }

                rows.Add(row);
            }
        }
        finally
        {
            try
            {
                await reader.DisposeAsync();
            }
            catch (PostgresException ex) when (truncated && ex.SqlState == PostgresErrorCodes.QueryCanceled)
            {
                // Ours.
            }
        }

        return new CatalogRows(rows, truncated);
    }
}
