using System.Diagnostics;
using Npgsql;

namespace Gatehouse.Benchmarks;

/// <summary>
/// <c>--read-rows CONNECTION SQL</c>: runs one query with Npgsql and reads every field of every row as the client
/// would (strings for text, values otherwise), then prints "rows=N fields=N seconds=S". Used by bench/masking-compare.sh
/// to time the same SELECT directly and through Gatehouse.
/// </summary>
internal static class MaskingReadRows
{
    public static int Run(string connection, string sql)
    {
        using var conn = new NpgsqlConnection(connection);
        conn.Open();
        var watch = Stopwatch.StartNew();
        using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 0 };
        using var reader = cmd.ExecuteReader();
        long rows = 0, fields = 0, chars = 0;
        while (reader.Read())
        {
            rows++;
            for (int i = 0; i < reader.FieldCount; i++)
            {
                if (reader.IsDBNull(i))
                {
                    continue;
                }

                fields++;
                chars += reader.GetFieldType(i) == typeof(string) ? reader.GetString(i).Length : (reader.GetValue(i) is null ? 0 : 1);
            }
        }

        Console.WriteLine($"rows={rows} fields={fields} chars={chars} seconds={watch.Elapsed.TotalSeconds:F3}");
        return 0;
    }
}
