using System.Text.Json;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// `gatehouse policy explain` as users run it against the test database: the analyzer's facts per statement, the
/// decision and its rule, and the result columns the grant's masks would change, bound through the real catalog
/// (or listed by relation when the catalog cannot be reached), as text and as JSON.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class ExplainTests(GatewayFixture fixture)
{
    private const string Claims = """{"groups":["ai-agents"]}""";

    private static readonly string MaskedPolicy = TestData.DefaultPolicy.TrimEnd() + """

            masks:
              - { columns: ["public.customers.email"], with: email }
              - { columns: ["*.phone"], with: hash }
              - { detect: [ssn], with: redact }
        """;

    /// <summary>A copy of the fixture's configuration with the masked policy; <paramref name="port"/> replaces the target's port.</summary>
    private async Task<string> ConfigAsync(int? port = null)
    {
        await fixture.Postgres.ExecuteAsync("CREATE OR REPLACE VIEW explain_contacts AS SELECT id, email AS contact FROM customers", "shop");
        var prepared = GatewayProcess.Prepare(fixture);
        await File.WriteAllTextAsync(Path.Combine(prepared.Directory, "policy.yaml"), MaskedPolicy);
        if (port is { } closed)
        {
            string config = await File.ReadAllTextAsync(prepared.ConfigPath);
            await File.WriteAllTextAsync(prepared.ConfigPath, config.Replace($"port: {fixture.Postgres.Port}", $"port: {closed}", StringComparison.Ordinal));
        }

        return prepared.ConfigPath;
    }

    private static async Task<ProcessRunner.Result> ExplainAsync(string config, string sql, params string[] more)
    {
        var result = await ProcessRunner.RunAsync(GatewayProcess.Executable,
            ["policy", "explain", "--config", config, "--claims", Claims, "--target", TestGateway.Target, "--sql", sql, .. more],
            timeout: TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.Stderr);
        return result;
    }

    [Fact]
    public async Task Text_shows_facts_decisions_and_the_masked_columns_bound_through_the_catalog()
    {
        string config = await ConfigAsync();
        var result = await ExplainAsync(config, "SELECT c.email, c.name, upper(c.phone) FROM customers c WHERE id = 1; SET work_mem = '64MB'; DROP TABLE orders");
        string text = result.Stdout;

        Assert.Contains("statement 1: SELECT (read): allow", text, StringComparison.Ordinal);
        Assert.Contains("  reads: customers\n", text, StringComparison.Ordinal);
        Assert.Contains("  functions: upper\n", text, StringComparison.Ordinal);
        Assert.Contains("  settings: work_mem=64MB\n", text, StringComparison.Ordinal);
        Assert.Contains("statement 3: DROP TABLE (ddl): deny by rule no-ddl", text, StringComparison.Ordinal);
        Assert.Contains("  writes: orders\n", text, StringComparison.Ordinal);
        Assert.Contains("decision: deny by rule no-ddl", text, StringComparison.Ordinal);
        Assert.Contains("(statement 3)", text, StringComparison.Ordinal);

        string masked = Assert.Single(text.Split('\n'), l => l.StartsWith("  masked columns: email", StringComparison.Ordinal));
        Assert.Equal("  masked columns: email: email (rule public.customers.email); upper: redact (untraceable, and the statement reads customers, which has masked columns)", masked);
        Assert.Contains("mask binding: result columns traced through the catalog of target \"shop\"", text, StringComparison.Ordinal);
        Assert.Contains("detectors: ssn scan the text of every other column (with redact)", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_commands_run_inside_a_statement_are_shown_as_text_and_json()
    {
        const string sql = "WITH x AS (DELETE FROM orders WHERE id = 0 RETURNING id) SELECT * FROM x";
        string config = await ConfigAsync();
        var text = (await ExplainAsync(config, sql + "; SELECT 1")).Stdout;
        Assert.Contains("statement 1: SELECT (write): allow", text, StringComparison.Ordinal);
        Assert.Single(text.Split('\n'), l => l.StartsWith("  also runs:", StringComparison.Ordinal));
        Assert.Contains("  also runs: DELETE\n", text, StringComparison.Ordinal);

        using var json = JsonDocument.Parse((await ExplainAsync(config, sql, "--json")).Stdout);
        Assert.Equal(["SELECT", "DELETE"], json.RootElement.GetProperty("statements")[0].GetProperty("commands").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task A_view_column_is_traced_to_the_masked_table_column()
    {
        var result = await ExplainAsync(await ConfigAsync(), "SELECT id, contact FROM explain_contacts");
        Assert.Contains("  masked columns: contact: email (rule public.customers.email)\n", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explaining_a_write_with_returning_binds_its_columns_without_running_it()
    {
        var result = await ExplainAsync(await ConfigAsync(), "INSERT INTO customers (id, name, email) VALUES (987654, 'x', 'x@example.com') RETURNING id, email");
        Assert.Contains("  masked columns: email: email (rule public.customers.email)\n", result.Stdout, StringComparison.Ordinal);
        Assert.Equal(0L, await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM customers WHERE id = 987654", "shop"));
    }

    [Fact]
    public async Task Json_has_the_same_content()
    {
        var result = await ExplainAsync(await ConfigAsync(), "SELECT email, name FROM customers; SET work_mem = '64MB'; DROP TABLE orders", "--json");
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        Assert.Equal("coding-agents", root.GetProperty("grant").GetProperty("to").GetString());
        var statements = root.GetProperty("statements");
        Assert.Equal(3, statements.GetArrayLength());
        var first = statements[0];
        Assert.Equal("SELECT email, name FROM customers", first.GetProperty("text").GetString());
        Assert.Equal("read", first.GetProperty("class").GetString());
        Assert.Equal(["customers"], first.GetProperty("reads").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("allow", first.GetProperty("decision").GetProperty("verdict").GetString());
        var column = Assert.Single(first.GetProperty("masked_columns").EnumerateArray());
        Assert.Equal("email", column.GetProperty("column").GetString());
        Assert.Equal("email", column.GetProperty("with").GetString());
        Assert.Equal("rule public.customers.email", column.GetProperty("why").GetString());
        var setting = Assert.Single(statements[1].GetProperty("settings").EnumerateArray());
        Assert.Equal("work_mem", setting.GetProperty("name").GetString());
        Assert.Equal("64MB", setting.GetProperty("value").GetString());
        var decision = root.GetProperty("decision");
        Assert.Equal("deny", decision.GetProperty("verdict").GetString());
        Assert.Equal("no-ddl", decision.GetProperty("rule").GetString());
        Assert.Equal(3, decision.GetProperty("statement").GetInt32());
        Assert.True(root.GetProperty("mask_binding").GetProperty("bound").GetBoolean());
    }

    [Fact]
    public async Task An_unreachable_catalog_is_said_and_the_masks_of_the_relations_read_are_listed()
    {
        int closed = TestGateway.FreePort();
        var result = await ExplainAsync(await ConfigAsync(closed), "SELECT email, phone FROM public.customers JOIN orders ON true");
        string text = result.Stdout;
        Assert.Contains("mask binding: the catalog of target \"shop\" cannot be read (", text, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{closed}", text, StringComparison.Ordinal);
        Assert.Contains("  masks for relations it names: public.customers: public.customers.email with email; public.customers: *.phone with hash; orders: *.phone with hash\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("masked columns:", text, StringComparison.Ordinal);

        var offline = await ExplainAsync(await ConfigAsync(), "SELECT email FROM customers", "--offline");
        Assert.Contains("mask binding: catalog not asked (--offline); masks listed by the relations each statement names", offline.Stdout, StringComparison.Ordinal);
        Assert.Contains("  masks for relations it names: customers: public.customers.email with email; customers: *.phone with hash\n", offline.Stdout, StringComparison.Ordinal);

        var json = await ExplainAsync(await ConfigAsync(), "SELECT email FROM customers", "--offline", "--json");
        using var document = JsonDocument.Parse(json.Stdout);
        var first = document.RootElement.GetProperty("statements")[0].GetProperty("masks_by_relation")[0];
        Assert.Equal("customers", first.GetProperty("relation").GetString());
        Assert.Equal("public.customers.email", first.GetProperty("pattern").GetString());
        Assert.True(document.RootElement.GetProperty("mask_binding").GetProperty("offline").GetBoolean());
    }

    [Fact]
    public async Task Strict_masking_deny_is_shown_as_the_refusal_the_gateway_would_give()
    {
        string config = await ConfigAsync();
        string policy = Path.Combine(Path.GetDirectoryName(config)!, "policy.yaml");
        await File.WriteAllTextAsync(policy, (await File.ReadAllTextAsync(policy)).Replace("    masks:", "    strict_masking: deny\n    masks:", StringComparison.Ordinal));
        var result = await ExplainAsync(config, "SELECT lower(email) FROM customers");
        Assert.Contains("  masking: the gateway refuses the result: result column \"lower\" cannot be traced to an unmasked source (strict_masking: deny)", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_grant_the_json_says_refused_at_connect()
    {
        var result = await ProcessRunner.RunAsync(GatewayProcess.Executable,
            ["policy", "explain", "--config", await ConfigAsync(), "--claims", """{"groups":["nobody"]}""", "--target", TestGateway.Target, "--sql", "SELECT 1", "--json"]);
        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("grant").ValueKind);
        Assert.Equal("refused at connect", json.RootElement.GetProperty("decision").GetProperty("verdict").GetString());
    }
}
