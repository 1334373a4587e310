using System.Data;
using System.Text;
using System.Text.Json;
using Gatehouse.Pipeline;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Protocol;
using Gatehouse.Sql;
using ModelContextProtocol.Protocol;
using Npgsql;
using NpgsqlTypes;

namespace Gatehouse.Mcp;

/// <summary>
/// Runs one SQL text over the caller's wire session and streams its results into a bounded JSON answer: rows are
/// read one at a time (sequential access, values as PostgreSQL's text), and at <see cref="McpLimits.MaxRows"/> or
/// <see cref="McpLimits.MaxBytes"/> the statement is cancelled upstream and the answer says <c>"truncated": true</c>.
/// Values arrive masked from the relay; the masked-column note is bound by the relay's own code
/// (<see cref="StatementMasks"/>) from the same RowDescription and catalog.
/// </summary>
internal sealed class QueryRunner(McpServices services)
{
    private const int ChunkChars = 4096;

    public async Task<CallToolResult> RunAsync(McpCaller caller, string target, string sql, IReadOnlyList<object?> parameters, int maxRows, CancellationToken ct)
    {
        var facts = services.Analyzer.Analyze(sql, new SqlSessionState()).Statements;
        if (facts.Any(f => f.Class == StatementClass.Transaction))
        {
            return ToolResults.Error("each query call runs in its own transaction: BEGIN, COMMIT, ROLLBACK and SAVEPOINT are not available over MCP");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(services.Limits.StatementTimeout);
        try
        {
            await using var lease = await services.Wire.OpenAsync(caller, target, timeout.Token);
            await using var command = new NpgsqlCommand(sql, lease.Connection) { AllResultTypesAreUnknown = true };
            foreach (var value in parameters)
            {
                // Untyped text, as psql sends it: the server infers each parameter's type from the statement.
                command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Unknown });
            }

            return await ReadAsync(caller, target, sql, facts, command, maxRows, timeout.Token);
        }
        catch (PostgresException ex) when (Refusals.PendingReviewId(ex.MessageText) is { } review)
        {
            return ToolResults.ReviewPending(review, ex);
        }
        catch (PostgresException ex)
        {
            return ToolResults.Error(ex);
        }
        catch (Exception ex) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested && ex is OperationCanceledException or NpgsqlException)
        {
            return ToolResults.Error($"the statement did not finish within {services.Limits.StatementTimeout.TotalSeconds:0.###}s (mcp.statement_timeout) and was cancelled");
        }
        catch (NpgsqlException ex)
        {
            return ToolResults.Error("gatehouse: the wire session failed: " + ex.Message);
        }
    }

    private async Task<CallToolResult> ReadAsync(
        McpCaller caller, string target, string sql, IReadOnlyList<StatementFacts> facts, NpgsqlCommand command, int maxRows, CancellationToken ct)
    {
        var results = new List<ResultSet>();
        int rows = 0;
        long bytes = 0;
        string? cut = null;
        var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, ct);
        try
        {
            do
            {
                var set = new ResultSet(results.Count);
                results.Add(set);
                if (reader.FieldCount == 0)
                {
                    continue;
                }

                var schema = await reader.GetColumnSchemaAsync(ct); // from the RowDescription alone: no KeyInfo, no catalog query
                set.Columns = [.. schema.Cast<Npgsql.Schema.NpgsqlDbColumn>().Select(c => new ResultColumn(c.ColumnName, c.TableOID, c.ColumnAttributeNumber ?? 0, c.TypeOID, 0))];
                set.Types = [.. Enumerable.Range(0, reader.FieldCount).Select(reader.GetDataTypeName)];
                set.Masked = await MaskedColumnsAsync(caller, target, sql, facts, results.Count - 1, set.Columns, ct);
                while (cut is null && await reader.ReadAsync(ct))
                {
                    if (rows >= maxRows)
                    {
                        cut = maxRows < services.Limits.MaxRows ? "max_rows (the call's)" : "max_rows (mcp.max_rows)";
                        break;
                    }

                    var (row, rowBytes) = await ReadRowAsync(reader, services.Limits.MaxBytes - bytes, ct);
                    if (row is null)
                    {
                        cut = "max_bytes (mcp.max_bytes)";
                        break;
                    }

                    bytes += rowBytes;
                    set.Rows.Add(row);
                    rows++;
                }
            }
            while (cut is null && await reader.NextResultAsync(ct));

            long affected = reader.RecordsAffected;
            if (cut is not null)
            {
                // Stop the server producing rows nobody reads; the drain then ends with 57014.
                command.Cancel();
            }

            await CloseAsync(reader, cut is not null);
            return Answer(target, results, rows, cut, cut is null ? affected : -1);
        }
        finally
        {
            await CloseAsync(reader, expectCancel: true);
        }
    }

    private static async ValueTask CloseAsync(NpgsqlDataReader reader, bool expectCancel)
    {
        try
        {
            await reader.DisposeAsync();
        }
        catch (PostgresException ex) when (expectCancel && ex.SqlState == PostgresErrorCodes.QueryCanceled)
        {
            // The cancel we sent after cutting the result.
        }
    }

    /// <summary>One row's values as text (null for SQL NULL), or null when it does not fit in what is left of the byte budget.</summary>
    private static async ValueTask<(List<string?>? Row, long Bytes)> ReadRowAsync(NpgsqlDataReader reader, long budget, CancellationToken ct)
    {
        var row = new List<string?>(reader.FieldCount);
        long used = 0;
        var chunk = new char[ChunkChars];
        for (int i = 0; i < reader.FieldCount; i++)
        {
            if (await reader.IsDBNullAsync(i, ct))
            {
                row.Add(null);
                continue;
            }

            using var text = await reader.GetTextReaderAsync(i, ct);
            var value = new StringBuilder();
            int n;
            while ((n = await text.ReadAsync(chunk, ct)) > 0)
            {
                used += Encoding.UTF8.GetByteCount(chunk.AsSpan(0, n));
                if (used > budget)
                {
                    return (null, used);
                }

                value.Append(chunk, 0, n);
            }

            row.Add(value.ToString());
        }

        return (row, used);
    }

    /// <summary>The columns the relay masks in this result: the grant's rules bound to the RowDescription by <see cref="StatementMasks"/>.</summary>
    private async ValueTask<IReadOnlyList<string>> MaskedColumnsAsync(
        McpCaller caller, string target, string sql, IReadOnlyList<StatementFacts> facts, int index, ResultColumn[] columns, CancellationToken ct)
    {
        var grant = services.Policy.Current.FindGrant(caller.Principal.Claims, target);
        if (grant is null || MaskRules.For(grant) is not { } rules || !services.Catalogs.TryGetValue(target, out var catalog))
        {
            return [];
        }

        try
        {
            // One statement: as the relay binds it (facts and text). Several: Npgsql sends each as its own Parse; the
            // facts' offsets point into the whole text, so the same text goes with each.
            var masks = facts.Count == 1 || index >= facts.Count
                ? await StatementMasks.ForAsync(rules, catalog, facts, ct, sql)
                : await StatementMasks.ForAsync(rules, catalog, [facts[index]], ct, sql);
            var plan = await masks.BindAsync(columns, ct);
            var masked = plan.Describe(columns).ToList();
            if (rules.Detectors.Count > 0)
            {
                masked.Add($"every other text column: scanned for {string.Join(", ", rules.Detectors)} (with {rules.DetectWith})");
            }

            return masked;
        }
        catch (CatalogUnavailableException ex)
        {
            return [$"not known: the catalog could not be read ({ex.Message}); values were masked by the relay all the same"];
        }
    }

    private static CallToolResult Answer(string target, List<ResultSet> results, int rows, string? cut, long affected) => ToolResults.Json(w =>
    {
        w.WriteString("target", target);
        w.WriteString("note", ToolResults.UntrustedNote);
        w.WriteNumber("rows_returned", rows);
        w.WriteBoolean("truncated", cut is not null);
        if (cut is not null)
        {
            w.WriteString("truncated_by", cut);
            w.WriteString("truncated_note", "the statement was cancelled at the limit: the rows shown are the first ones, more existed");
        }
        else if (affected >= 0)
        {
            w.WriteNumber("rows_affected", affected);
        }

        w.WriteStartArray("results");
        foreach (var set in results.Where(s => s.Columns.Length > 0))
        {
            w.WriteStartObject();
            w.WriteStartArray("columns");
            for (int i = 0; i < set.Columns.Length; i++)
            {
                w.WriteStartObject();
                w.WriteString("name", set.Columns[i].Name);
                w.WriteString("type", set.Types[i]);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            ToolResults.Strings(w, "masked_columns", set.Masked);
            w.WriteStartArray("data");
            foreach (var row in set.Rows)
            {
                w.WriteStartArray();
                foreach (var value in row)
                {
                    w.WriteStringValue(value);
                }

                w.WriteEndArray();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    });

    private sealed class ResultSet(int index)
    {
        public int Index { get; } = index;

        public ResultColumn[] Columns { get; set; } = [];

        public string[] Types { get; set; } = [];

        public IReadOnlyList<string> Masked { get; set; } = [];

        public List<List<string?>> Rows { get; } = [];
    }
}
