using System.Text.Json;
using ModelContextProtocol.Client;

namespace Gatehouse.IntegrationTests;

/// <summary>Every MCP tool, called with the SDK's client over real HTTP, against a real gateway and PostgreSQL.</summary>
[Collection(McpCollection.Name)]
public sealed class McpToolTests(McpFixture fixture)
{
    private static Dictionary<string, object?> Args(params (string Key, object? Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    [Fact]
    public async Task Tools_list_names_the_tools()
    {
        await using var client = await fixture.ClientAsync();
        var tools = await client.ListToolsAsync();
        Assert.Equal(["describe_table", "explain_decision", "list_tables", "list_targets", "query", "review_status"], tools.Select(t => t.Name).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("query", "{\"target\":\"shop\"}", "query: missing required argument 'sql'")]
    [InlineData("query", "{\"target\":\"shop\",\"sql\":null}", "query: missing required argument 'sql'")]
    [InlineData("query", "{\"target\":\"shop\",\"sql\":5}", "query: argument 'sql' must be a string, not a number")]
    [InlineData("query", "{\"target\":\"shop\",\"sql\":\"SELECT 1\",\"max_rows\":\"ten\"}", "query: argument 'max_rows' must be an integer or null, not a string")]
    [InlineData("explain_decision", "{\"sql\":\"SELECT 1\"}", "explain_decision: missing required argument 'target'")]
    [InlineData("describe_table", "{\"target\":\"shop\"}", "describe_table: missing required argument 'table'")]
    public async Task A_missing_or_mistyped_argument_is_a_tool_error_that_names_it(string tool, string arguments, string expected)
    {
        await using var client = await fixture.ClientAsync();
        var parsed = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(arguments)!;
        var (result, json) = await McpFixture.CallAsync(client, tool, parsed.ToDictionary(p => p.Key, p => (object?)p.Value));
        Assert.True(result.IsError);
        Assert.Equal(expected, json.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task List_targets_shows_the_grant_of_this_identity_only()
    {
        await using var client = await fixture.ClientAsync();
        var (_, json) = await McpFixture.CallAsync(client, "list_targets", []);
        var target = Assert.Single(json.GetProperty("targets").EnumerateArray());
        Assert.Equal("shop", target.GetProperty("target").GetString());
        Assert.Equal(["app_read", "app_write"], target.GetProperty("db_roles").EnumerateArray().Select(e => e.GetString()));

        await using var outsider = await fixture.ClientAsync(fixture.Gateway.Token("outsider-1", ("groups", "nobody")));
        var (_, none) = await McpFixture.CallAsync(outsider, "list_targets", []);
        Assert.Empty(none.GetProperty("targets").EnumerateArray());
    }

    [Fact]
    public async Task List_tables_and_describe_table_run_as_the_caller_and_flag_masked_columns()
    {
        await using var client = await fixture.ClientAsync();
        var (listed, tables) = await McpFixture.CallAsync(client, "list_tables", Args(("target", "shop")));
        Assert.False(listed.IsError, tables.ToString());
        var names = tables.GetProperty("data").EnumerateArray().Select(t => $"{t.GetProperty("schema").GetString()}.{t.GetProperty("name").GetString()}").ToList();
        Assert.Contains("public.customers", names);
        Assert.Contains("public.payments", names);

        var (described, table) = await McpFixture.CallAsync(client, "describe_table", Args(("target", "shop"), ("table", "customers")));
        Assert.False(described.IsError, table.ToString());
        var columns = table.GetProperty("data").GetProperty("columns").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.TryGetProperty("masked", out var m) ? m.GetString() : null);
        Assert.Equal(["id", "name", "email", "ssn", "phone"], columns.Keys);
        Assert.StartsWith("email", columns["email"], StringComparison.Ordinal);
        Assert.StartsWith("last4", columns["ssn"], StringComparison.Ordinal);
        Assert.StartsWith("hash", columns["phone"], StringComparison.Ordinal);
        Assert.Null(columns["name"]);

        var (missing, _) = await McpFixture.CallAsync(client, "describe_table", Args(("target", "shop"), ("table", "no_such_table")));
        Assert.True(missing.IsError);
    }

    [Fact]
    public async Task Query_returns_rows_masked_as_the_wire_returns_them_and_names_the_masked_columns()
    {
        await using var client = await fixture.ClientAsync();
        var (result, json) = await McpFixture.QueryAsync(client, "SELECT id, name, email, ssn FROM customers WHERE id <= $1 ORDER BY id", [3]);
        Assert.False(result.IsError, json.ToString());
        Assert.Contains("untrusted", json.GetProperty("note").GetString(), StringComparison.Ordinal);
        var rows = McpFixture.Rows(json);
        Assert.Equal(3, rows.Count);
        Assert.Equal("1", rows[0][0]);
        Assert.Equal("Customer 1", rows[0][1]);
        Assert.DoesNotContain("customer1@example.com", rows[0][2], StringComparison.Ordinal);
        Assert.EndsWith("0001", rows[0][3], StringComparison.Ordinal);
        Assert.NotEqual("123-45-0001", rows[0][3]);
        var masked = json.GetProperty("results")[0].GetProperty("masked_columns").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(masked, m => m.StartsWith("email: email", StringComparison.Ordinal));
        Assert.Contains(masked, m => m.StartsWith("ssn: last4", StringComparison.Ordinal));
        Assert.DoesNotContain(masked, m => m.StartsWith("name", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_denied_statement_is_a_tool_error_naming_the_rule()
    {
        await using var client = await fixture.ClientAsync();
        var (result, json) = await McpFixture.QueryAsync(client, "DROP TABLE customers");
        Assert.True(result.IsError);
        Assert.Equal("42501", json.GetProperty("error").GetProperty("sqlstate").GetString());
        Assert.StartsWith("gatehouse: denied by rule no-ddl", json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        // Nothing was run, and the pooled session still serves the next call.
        var (after, count) = await McpFixture.QueryAsync(client, "SELECT count(*) FROM orders");
        Assert.False(after.IsError, count.ToString());
        Assert.Equal("500", McpFixture.Rows(count)[0][0]);
    }

    [Fact]
    public async Task Rows_past_the_limit_are_cut_with_a_marker_and_the_session_stays_usable()
    {
        await using var client = await fixture.ClientAsync();
        var (result, json) = await McpFixture.QueryAsync(client, "SELECT g FROM generate_series(1, 10000000) g", maxRows: 25);
        Assert.False(result.IsError, json.ToString());
        Assert.True(json.GetProperty("truncated").GetBoolean());
        Assert.Equal(25, json.GetProperty("rows_returned").GetInt32());
        Assert.Equal(25, McpFixture.Rows(json).Count);

        var (server, all) = await McpFixture.QueryAsync(client, "SELECT g FROM generate_series(1, 10000000) g");
        Assert.False(server.IsError, all.ToString());
        Assert.Equal(fixture.Gateway.Config.Mcp.MaxRows, all.GetProperty("rows_returned").GetInt32());
        Assert.Contains("mcp.max_rows", all.GetProperty("truncated_by").GetString(), StringComparison.Ordinal);

        var (wide, bytes) = await McpFixture.QueryAsync(client, "SELECT repeat('x', 100000) FROM generate_series(1, 1000)");
        Assert.False(wide.IsError, bytes.ToString());
        Assert.True(bytes.GetProperty("truncated").GetBoolean());
        Assert.Contains("mcp.max_bytes", bytes.GetProperty("truncated_by").GetString(), StringComparison.Ordinal);
        Assert.Equal(fixture.Gateway.Config.Mcp.MaxBytes / 100000, bytes.GetProperty("rows_returned").GetInt32());

        var (next, one) = await McpFixture.QueryAsync(client, "SELECT 1");
        Assert.False(next.IsError, one.ToString());
        Assert.Equal("1", McpFixture.Rows(one)[0][0]);
    }

    [Theory]
    [InlineData("""{"target":"shop","sql":"SELECT 1","parameters":"not an array"}""", "'parameters' must be an array")]
    [InlineData("""{"target":"shop","sql":"SELECT $1::text","parameters":[{"nested":true}]}""", "parameter $1 must be")]
    [InlineData("""{"target":"nowhere","sql":"SELECT 1"}""", "unknown target")]
    [InlineData("""{"target":"shop","sql":"   "}""", "'sql' is empty")]
    [InlineData("""{"target":"shop","sql":"SELECT 1","max_rows":0}""", "'max_rows' must be at least 1")]
    [InlineData("""{"target":"shop","sql":"BEGIN"}""", "its own transaction")]
    public async Task Malformed_arguments_are_clear_tool_errors(string arguments, string expected)
    {
        await using var client = await fixture.ClientAsync();
        var args = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(arguments)!.ToDictionary(p => p.Key, p => (object?)p.Value);
        var (result, json) = await McpFixture.CallAsync(client, "query", args);
        Assert.True(result.IsError);
        Assert.Contains(expected, json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sql_the_analyzer_does_not_understand_is_refused_fail_closed()
    {
        // Not understood, and the server's own syntax check says why (as on the wire: the parity table has it too).
        await using var client = await fixture.ClientAsync();
        var (result, json) = await McpFixture.QueryAsync(client, "SELEC * FROM customers");
        Assert.True(result.IsError);
        Assert.Equal("42601", json.GetProperty("error").GetProperty("sqlstate").GetString());
        Assert.Contains("syntax error at or near \"SELEC\"", json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_decision_says_what_policy_would_do_without_running_it()
    {
        await using var client = await fixture.ClientAsync();
        var (result, json) = await McpFixture.CallAsync(client, "explain_decision", Args(("target", "shop"), ("sql", "DELETE FROM payments")));
        Assert.False(result.IsError, json.ToString());
        Assert.Equal("deny", json.GetProperty("decision").GetProperty("verdict").GetString());
        Assert.Equal("payments-readonly", json.GetProperty("decision").GetProperty("rule").GetString());

        var (_, read) = await McpFixture.CallAsync(client, "explain_decision", Args(("target", "shop"), ("sql", "SELECT email FROM public.customers")));
        Assert.Equal("allow", read.GetProperty("decision").GetProperty("verdict").GetString());
        Assert.Contains(read.GetProperty("statements")[0].GetProperty("masks_for_relations_read").EnumerateArray(),
            m => m.GetString()!.Contains("public.customers.email with email", StringComparison.Ordinal));

        var (_, update) = await McpFixture.CallAsync(client, "explain_decision", Args(("target", "shop"), ("sql", "UPDATE customers SET name = 'explained' WHERE id = 7")));
        Assert.Equal("allow", update.GetProperty("decision").GetProperty("verdict").GetString());

        // The UPDATE was only explained: the row is unchanged.
        await using var wire = await fixture.Gateway.OpenAsync(ssl: false);
        await using var name = new Npgsql.NpgsqlCommand("SELECT name FROM customers WHERE id = 7", wire);
        Assert.Equal("Customer 7", await name.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Calls_past_the_per_identity_limit_are_refused_at_once()
    {
        string token = fixture.Gateway.Token("busy-agent");
        int limit = fixture.Gateway.Config.Mcp.MaxConcurrentPerIdentity;
        var clients = new List<McpClient>();
        try
        {
            for (int i = 0; i < limit + 2; i++)
            {
                clients.Add(await fixture.ClientAsync(token));
            }

            var calls = clients.Select(c => McpFixture.QueryAsync(c, "SELECT pg_sleep(2)")).ToList();
            var results = await Task.WhenAll(calls);
            var refused = results.Where(r => r.Result.IsError == true).ToList();
            Assert.Equal(2, refused.Count);
            Assert.All(refused, r => Assert.Contains("mcp.max_concurrent_per_identity", r.Json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal));
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }
}
