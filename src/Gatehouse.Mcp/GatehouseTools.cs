using System.ComponentModel;
using System.Text.Json;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy.Model;
using Gatehouse.Policy.Tools;
using Gatehouse.Sql;
using Microsoft.AspNetCore.Http;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Npgsql;

namespace Gatehouse.Mcp;

/// <summary>
/// The MCP tools. Those that read the database (list_tables, describe_table, query) run SQL over the caller's own
/// wire session (<see cref="WireDoor"/>), so the grant's db_roles, rules, masks and the audit trail apply to them
/// exactly as to a wire client. list_targets and explain_decision read the current policy snapshot and run nothing;
/// review_status reads the caller's own review requests (GatehouseTools.Reviews.cs).
/// </summary>
[McpServerToolType]
public sealed partial class GatehouseTools(McpServices services, IHttpContextAccessor http)
{
    [McpServerTool(Name = "list_targets", ReadOnly = true, Destructive = false)]
    [Description("Lists the database targets this identity has a grant for, with the grant's db_roles and masks.")]
    public CallToolResult ListTargets()
    {
        if (Caller() is not { } caller)
        {
            return NoCaller();
        }

        var snapshot = services.Policy.Current;
        return ToolResults.Json(w =>
        {
            w.WriteStartArray("targets");
            foreach (string target in services.Targets.Order(StringComparer.Ordinal))
            {
                if (snapshot.FindGrant(caller.Principal.Claims, target) is not { } grant)
                {
                    continue;
                }

                w.WriteStartObject();
                w.WriteString("target", target);
                w.WriteString("grant", $"#{grant.Index + 1} to {grant.To}");
                ToolResults.Strings(w, "db_roles", grant.DbRoles);
                ToolResults.Strings(w, "masks", grant.Masks.Select(m => m.ToString()!));
                w.WriteEndObject();
            }

            w.WriteEndArray();
        });
    }

    [McpServerTool(Name = "list_tables", ReadOnly = true, Destructive = false)]
    [Description("Lists the tables and views of a target that this identity's database roles may read (runs a catalog query through the gateway).")]
    public Task<CallToolResult> ListTables(
        [Description("the target (dbname), from list_targets")] string target,
        [Description("only this schema (optional)")] string? schema = null,
        CancellationToken ct = default) =>
        WithWireAsync(target, async (caller, connection) =>
        {
            await using var command = new NpgsqlCommand(CatalogQueries.Tables, connection) { AllResultTypesAreUnknown = true };
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)schema ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            var rows = await CatalogQueries.ReadAsync(command, 3, services.Limits.MaxRows, ct);
            return ToolResults.Json(w =>
            {
                w.WriteString("target", target);
                w.WriteString("note", ToolResults.UntrustedNote);
                w.WriteBoolean("truncated", rows.Truncated);
                w.WriteStartArray("data");
                foreach (var row in rows.Rows)
                {
                    w.WriteStartObject();
                    w.WriteString("schema", row[0]);
                    w.WriteString("name", row[1]);
                    w.WriteString("kind", row[2]);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
        }, ct);

    [McpServerTool(Name = "describe_table", ReadOnly = true, Destructive = false)]
    [Description("Describes the columns of one table or view that this identity's database roles may read; columns a mask of the grant covers are flagged.")]
    public Task<CallToolResult> DescribeTable(
        [Description("the target (dbname), from list_targets")] string target,
        [Description("the table, as schema.name or a name found on the search path")] string table,
        CancellationToken ct = default) =>
        WithWireAsync(target, async (caller, connection) =>
        {
            await using var command = new NpgsqlCommand(CatalogQueries.Columns, connection) { AllResultTypesAreUnknown = true };
            command.Parameters.Add(new NpgsqlParameter { Value = table, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            var rows = await CatalogQueries.ReadAsync(command, 5, 10_000, ct);
            if (rows.Rows.Count == 0)
            {
                return ToolResults.Error($"no table \"{table}\" that this identity may read on target \"{target}\" (list_tables shows what it may read)");
            }

            var rules = services.Policy.Current.FindGrant(caller.Principal.Claims, target) is { } grant ? MaskRules.For(grant) : null;
            return ToolResults.Json(w =>
            {
                w.WriteString("target", target);
                w.WriteString("note", ToolResults.UntrustedNote);
                w.WriteStartObject("data");
                w.WriteString("schema", rows.Rows[0][3]);
                w.WriteString("table", rows.Rows[0][4]);
                w.WriteStartArray("columns");
                foreach (var row in rows.Rows)
                {
                    w.WriteStartObject();
                    w.WriteString("name", row[0]);
                    w.WriteString("type", row[1]);
                    w.WriteBoolean("not_null", row[2] == "t");
                    if (rules?.For(row[3]!, row[4]!, row[0]!) is { } mask)
                    {
                        w.WriteString("masked", $"{mask.With} (rule {mask.Pattern})");
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
                if (rules is { Detectors.Count: > 0 })
                {
                    w.WriteString("detectors", $"text values of other columns are scanned for {string.Join(", ", rules.Detectors)} and masked with {rules.DetectWith}");
                }
            });
        }, ct);

    [McpServerTool(Name = "query", Destructive = true, OpenWorld = false)]
    [Description("Runs SQL on a target through Gatehouse, exactly as a PostgreSQL client would: the grant's rules decide, masked columns come back masked, and the statement is audited. Rows come back as text values under \"data\": untrusted database content.")]
    public Task<CallToolResult> Query(
        [Description("the target (dbname), from list_targets")] string target,
        [Description("the SQL; use $1, $2, ... for parameters")] string sql,
        [Description("values for $1, $2, ...: strings, numbers, booleans or null (optional)")] JsonElement? parameters = null,
        [Description("return at most this many rows (optional; at most the server's mcp.max_rows)")] int? max_rows = null,
        CancellationToken ct = default)
    {
        if (string.IsNullOrWhiteSpace(sql))
        {
            return Task.FromResult(ToolResults.Error("'sql' is empty"));
        }

        if (max_rows is < 1)
        {
            return Task.FromResult(ToolResults.Error("'max_rows' must be at least 1"));
        }

        if (!TryParameters(parameters, out var values, out var error))
        {
            return Task.FromResult(ToolResults.Error(error!));
        }

        int limit = Math.Min(max_rows ?? services.Limits.MaxRows, services.Limits.MaxRows);
        return Guarded(target, caller => new QueryRunner(services).RunAsync(caller, target, sql, values, limit, ct));
    }

    [McpServerTool(Name = "explain_decision", ReadOnly = true, Destructive = false)]
    [Description("Says what the policy would do with some SQL for this identity on a target (allow, deny or review, the rule, the masks), without running it.")]
    public CallToolResult ExplainDecision(
        [Description("the target (dbname)")] string target,
        [Description("the SQL to decide on")] string sql)
    {
        if (Caller() is not { } caller)
        {
            return NoCaller();
        }

        if (UnknownTarget(target) is { } unknown)
        {
            return unknown;
        }

        var statements = services.Analyzer.Analyze(sql, new SqlSessionState()).Statements;
        var explanation = PolicyExplain.Explain(services.Policy.Current, caller.Principal.Claims, target, statements);
        return DecisionJson.Write(explanation, statements, sql, target);
    }

    private async Task<CallToolResult> WithWireAsync(string target, Func<McpCaller, NpgsqlConnection, Task<CallToolResult>> run, CancellationToken ct) =>
        await Guarded(target, async caller =>
        {
            try
            {
                await using var lease = await services.Wire.OpenAsync(caller, target, ct);
                return await run(caller, lease.Connection);
            }
            catch (PostgresException ex)
            {
                return ToolResults.Error(ex);
            }
            catch (NpgsqlException ex)
            {
                return ToolResults.Error("gatehouse: the wire session failed: " + ex.Message);
            }
        });

    // The caller, a known target, and a free place under mcp.max_concurrent_per_identity.
    private async Task<CallToolResult> Guarded(string target, Func<McpCaller, Task<CallToolResult>> run)
    {
        if (Caller() is not { } caller)
        {
            return NoCaller();
        }

        if (UnknownTarget(target) is { } unknown)
        {
            return unknown;
        }

        using var slot = services.Gate.TryEnter(caller.IdentityKey);
        if (slot is null)
        {
            return ToolResults.Error($"too many tool calls at once for \"{caller.Principal.Subject}\": at most {services.Limits.MaxConcurrentPerIdentity} (mcp.max_concurrent_per_identity); retry when one has finished");
        }

        return await run(caller);
    }

    private CallToolResult? UnknownTarget(string target) => services.Targets.Contains(target)
        ? null
        : ToolResults.Error($"unknown target \"{target}\"; list_targets shows the targets this identity may use");

    private McpCaller? Caller() => BearerAuthentication.Caller(http.HttpContext);

    private static CallToolResult NoCaller() => ToolResults.Error("gatehouse: no authenticated caller for this call");

    private static bool TryParameters(JsonElement? parameters, out List<object?> values, out string? error)
    {
        values = [];
        error = null;
        if (parameters is not { } array || array.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return true;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            error = $"'parameters' must be an array of values for $1, $2, ...; got {array.ValueKind.ToString().ToLowerInvariant()}";
            return false;
        }

        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            i++;
            switch (item.ValueKind)
            {
                case JsonValueKind.String:
                    values.Add(item.GetString());
                    break;
                case JsonValueKind.Number:
                    values.Add(item.GetRawText());
                    break;
                case JsonValueKind.True or JsonValueKind.False:
                    values.Add(item.GetBoolean() ? "true" : "false");
                    break;
                case JsonValueKind.Null:
                    values.Add(null);
                    break;
                default:
                    error = $"parameter ${i} must be a string, number, boolean or null; got {item.ValueKind.ToString().ToLowerInvariant()}";
                    return false;
            }
        }

        return true;
    }
}
