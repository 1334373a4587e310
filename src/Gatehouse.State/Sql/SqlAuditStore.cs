using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text;

namespace Gatehouse.State.Sql;

/// <summary>
/// Audit rows in <c>audit_records</c> and <c>audit_anchors</c> (prefixed <c>gatehouse_</c> on PostgreSQL):
/// appends and prunes through the store's writer, reads paged by key on connections of their own, so a
/// stream never holds more than a page in memory nor a read transaction open between pages (on SQLite a
/// long reader would keep the WAL from being checkpointed).
/// </summary>
internal class SqlAuditStore(ISqlStore store) : IAuditStore
{
    public const int PageSize = 512;
    protected const string Columns = "chain, seq, time, kind, session_id, body, mac";

    protected ISqlStore Store { get; } = store;

    protected SqlDialect Dialect { get; } = store.Dialect;

    protected string Records { get; } = store.Dialect.Table("audit_records");

    private string Anchors { get; } = store.Dialect.Table("audit_anchors");

    /// <summary>One prepared INSERT run per row (SQLite has no round trips to save); PostgreSQL overrides this.</summary>
    public virtual Task AppendAsync(IReadOnlyList<AuditRow> rows, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
            return Task.CompletedTask;
        return Store.WriteCompletingInlineAsync(async (cmd, token) =>
        {
            cmd.CommandText = $"INSERT INTO {Records} ({Columns}) VALUES (@chain, @seq, @time, @kind, @session, @body, @mac)";
            var values = new DbParameter[7];
            string[] names = ["@chain", "@seq", "@time", "@kind", "@session", "@body", "@mac"];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = cmd.CreateParameter();
                values[i].ParameterName = names[i];
                cmd.Parameters.Add(values[i]);
            }
            foreach (var row in rows)
            {
                values[0].Value = row.Chain;
                values[1].Value = row.Seq;
                values[2].Value = Dialect.Time(row.Time);
                values[3].Value = row.Kind;
                values[4].Value = (object?)row.SessionId ?? DBNull.Value;
                values[5].Value = row.Body;
                values[6].Value = row.Mac;
                await cmd.ExecuteNonQueryAsync(token);
            }
            return rows.Count;
        }, ct);
    }

    public Task<IReadOnlyList<string>> ChainsAsync(CancellationToken ct) =>
        Store.ReadAsync<IReadOnlyList<string>>(async (cmd, token) =>
        {
            cmd.CommandText = $"SELECT chain FROM {Records} UNION SELECT chain FROM {Anchors}";
            var result = new List<string>();
            await using var reader = await cmd.ExecuteReaderAsync(token);
            while (await reader.ReadAsync(token))
                result.Add(reader.GetString(0));
            return result;
        }, ct);

    public Task<AuditRow?> LastAsync(string chain, CancellationToken ct) =>
        Store.ReadAsync(async (cmd, token) =>
        {
            cmd.CommandText = $"SELECT {Columns} FROM {Records} WHERE chain = @chain ORDER BY seq DESC LIMIT 1";
            SqlDialect.Add(cmd, "@chain", chain);
            var rows = await ReadRowsAsync(cmd, token);
            return rows.Count == 0 ? null : rows[0];
        }, ct);

    public async IAsyncEnumerable<AuditRow> ReadChainAsync(string chain, long afterSeq, [EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            var after = afterSeq;
            var rows = await Store.ReadAsync((cmd, token) =>
            {
                cmd.CommandText = $"SELECT {Columns} FROM {Records} WHERE chain = @chain AND seq > @after ORDER BY seq LIMIT {PageSize}";
                SqlDialect.Add(cmd, "@chain", chain);
                SqlDialect.Add(cmd, "@after", after);
                return ReadRowsAsync(cmd, token);
            }, ct);
            foreach (var row in rows)
                yield return row;
            if (rows.Count < PageSize)
                yield break;
            afterSeq = rows[^1].Seq;
        }
    }

    public async IAsyncEnumerable<AuditRow> ReadAsync(AuditQuery query, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit < 0)
            throw new ArgumentOutOfRangeException(nameof(query), "an audit query's limit cannot be negative");
        var left = query.Limit ?? int.MaxValue;
        AuditRow? after = null;
        while (left > 0)
        {
            var count = Math.Min(PageSize, left);
            var from = after;
            var rows = await Store.ReadAsync((cmd, token) =>
            {
                QueryPage(cmd, query, from, count);
                return ReadRowsAsync(cmd, token);
            }, ct);
            foreach (var row in rows)
                yield return row;
            left -= rows.Count;
            if (rows.Count < count)
                yield break;
            after = rows[^1];
        }
    }

    public Task<AuditAnchor?> ReadAnchorAsync(string chain, CancellationToken ct) =>
        Store.ReadAsync(async (cmd, token) =>
        {
            cmd.CommandText = $"SELECT chain, seq, mac, time, signature FROM {Anchors} WHERE chain = @chain";
            SqlDialect.Add(cmd, "@chain", chain);
            await using var reader = await cmd.ExecuteReaderAsync(token);
            if (!await reader.ReadAsync(token))
                return null;
            return new AuditAnchor(reader.GetString(0), reader.GetInt64(1), Bytes(reader, 2), Dialect.ReadTime(reader, 3), Bytes(reader, 4));
        }, ct);

    public Task<long> PruneAsync(AuditAnchor anchor, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(anchor);
        return Store.WriteAsync(async (cmd, token) =>
        {
            cmd.CommandText = $"DELETE FROM {Records} WHERE chain = @chain AND seq <= @seq";
            SqlDialect.Add(cmd, "@chain", anchor.Chain);
            SqlDialect.Add(cmd, "@seq", anchor.Seq);
            long deleted = await cmd.ExecuteNonQueryAsync(token);
            cmd.Parameters.Clear();
            cmd.CommandText = $"INSERT INTO {Anchors} (chain, seq, mac, time, signature) VALUES (@chain, @seq, @mac, @time, @signature) " +
                "ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, mac = excluded.mac, time = excluded.time, signature = excluded.signature";
            SqlDialect.Add(cmd, "@chain", anchor.Chain);
            SqlDialect.Add(cmd, "@seq", anchor.Seq);
            SqlDialect.Add(cmd, "@mac", anchor.Mac);
            SqlDialect.Add(cmd, "@time", Dialect.Time(anchor.Time));
            SqlDialect.Add(cmd, "@signature", anchor.Signature);
            await cmd.ExecuteNonQueryAsync(token);
            return deleted;
        }, ct);
    }

    /// <summary>One page of <paramref name="query"/>'s rows after <paramref name="after"/> in (time, chain, seq) order.</summary>
    private void QueryPage(DbCommand cmd, AuditQuery query, AuditRow? after, int count)
    {
        var where = new List<string>();
        if (query.Since is { } since)
        {
            where.Add("time >= @since");
            SqlDialect.Add(cmd, "@since", Dialect.Time(since));
        }
        if (query.Until is { } until)
        {
            where.Add("time < @until");
            SqlDialect.Add(cmd, "@until", Dialect.Time(until));
        }
        if (query.SessionId is { } session)
        {
            where.Add("session_id = @session");
            SqlDialect.Add(cmd, "@session", session);
        }
        if (query.Kinds is { Count: > 0 } kinds)
        {
            var names = new StringBuilder();
            for (var i = 0; i < kinds.Count; i++)
            {
                names.Append(i == 0 ? "@kind" : ", @kind").Append(i);
                SqlDialect.Add(cmd, "@kind" + i, kinds[i]);
            }
            where.Add($"kind IN ({names})");
        }
        if (after is not null)
        {
            where.Add("(time, chain, seq) > (@after_time, @after_chain, @after_seq)");
            SqlDialect.Add(cmd, "@after_time", Dialect.Time(after.Time));
            SqlDialect.Add(cmd, "@after_chain", after.Chain);
            SqlDialect.Add(cmd, "@after_seq", after.Seq);
        }
        var filter = where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where);
        cmd.CommandText = $"SELECT {Columns} FROM {Records} {filter} ORDER BY time, chain, seq LIMIT {count}";
    }

    // Rows are buffered (no sequential access), so reading a column never waits on I/O.
    private static byte[] Bytes(DbDataReader reader, int ordinal) => (byte[])reader.GetValue(ordinal);

    private async Task<IReadOnlyList<AuditRow>> ReadRowsAsync(DbCommand cmd, CancellationToken ct)
    {
        var rows = new List<AuditRow>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new AuditRow(
                reader.GetString(0),
                reader.GetInt64(1),
                Dialect.ReadTime(reader, 2),
                reader.GetString(3),
                reader.GetValue(4) as string,
                reader.GetString(5),
                Bytes(reader, 6)));
        }
        return rows;
    }
}
