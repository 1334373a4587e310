using Gatehouse.State.Sql;

namespace Gatehouse.State.Postgres;

/// <summary>The shared audit repository, with appends sent as one statement over arrays: one round trip per append, whatever its size.</summary>
internal sealed class PostgresAuditStore(ISqlStore store) : SqlAuditStore(store)
{
    public override Task AppendAsync(IReadOnlyList<AuditRow> rows, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            return Task.CompletedTask;
        var chains = new string[rows.Count];
        var seqs = new long[rows.Count];
        var times = new DateTime[rows.Count];
        var kinds = new string[rows.Count];
        var sessions = new string?[rows.Count];
        var bodies = new string[rows.Count];
        var macs = new byte[rows.Count][];
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            (chains[i], seqs[i], times[i], kinds[i], sessions[i], bodies[i], macs[i]) =
                (row.Chain, row.Seq, (DateTime)Dialect.Time(row.Time), row.Kind, row.SessionId, row.Body, row.Mac);
        }
        return Store.WriteCompletingInlineAsync((cmd, token) =>
        {
            cmd.CommandText = $"INSERT INTO {Records} ({Columns}) SELECT * FROM unnest(" +
                "@chain::text[], @seq::bigint[], @time::timestamptz[], @kind::text[], @session::text[], @body::text[], @mac::bytea[])";
            SqlDialect.Add(cmd, "@chain", chains);
            SqlDialect.Add(cmd, "@seq", seqs);
            SqlDialect.Add(cmd, "@time", times);
            SqlDialect.Add(cmd, "@kind", kinds);
            SqlDialect.Add(cmd, "@session", sessions);
            SqlDialect.Add(cmd, "@body", bodies);
            SqlDialect.Add(cmd, "@mac", macs);
            return cmd.ExecuteNonQueryAsync(token);
        }, ct);
    }
}
