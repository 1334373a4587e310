using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Npgsql;

namespace Gatehouse.IntegrationTests;

public sealed class MetricsFixture : IAsyncLifetime
{
    public const string Policy = """
        identities:
          agents: { claims: { groups: ai-agents } }
          reviewers: { claims: { roles: dba } }
        grants:
          - to: agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
              - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
            masks:
              - { columns: ["public.customers.email"], with: email }
        reviews: { approvers: reviewers, mode: hold, timeout: 60s }
        """;

    public TestGateway Gateway { get; private set; } = null!;

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = Policy });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>/metrics over real HTTP while real psql sessions run statements through the gateway.</summary>
public sealed class MetricsTests(MetricsFixture fixture) : IClassFixture<MetricsFixture>
{
    private TestGateway Gateway => fixture.Gateway;

    [Fact]
    public async Task Every_metric_is_exposed_with_its_type()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(Gateway.Gateway.AdminUrl + "/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        var types = Regex.Matches(await response.Content.ReadAsStringAsync(), @"^# TYPE (\S+) (\S+)$", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var expected = new Dictionary<string, string>
        {
            ["gatehouse_client_sessions"] = "gauge",
            ["gatehouse_unauthenticated_connections"] = "gauge",
            ["gatehouse_connections_evicted_total"] = "counter",
            ["gatehouse_connections_refused_total"] = "counter",
            ["gatehouse_sessions"] = "gauge",
            ["gatehouse_sessions_total"] = "counter",
            ["gatehouse_statements_total"] = "counter",
            ["gatehouse_upstream_latency_seconds"] = "histogram",
            ["gatehouse_masked_values_total"] = "counter",
            ["gatehouse_reviews_pending"] = "gauge",
            ["gatehouse_review_wait_seconds"] = "histogram",
            ["gatehouse_policy_rules"] = "gauge",
            ["gatehouse_credential_leases"] = "gauge",
            ["gatehouse_leased_sessions"] = "gauge",
            ["gatehouse_audit_enabled"] = "gauge",
            ["gatehouse_audit_records_total"] = "counter",
            ["gatehouse_audit_batches_total"] = "counter",
            ["gatehouse_audit_failed_records_total"] = "counter",
            ["gatehouse_audit_queue_depth"] = "gauge",
            ["gatehouse_audit_last_batch_seconds"] = "gauge",
            ["gatehouse_audit_healthy"] = "gauge",
            ["gatehouse_audit_journal_syncs_total"] = "counter",
            ["gatehouse_audit_write_seconds"] = "histogram",
        };
        foreach (var (name, type) in expected)
        {
            Assert.True(types.TryGetValue(name, out var actual), $"{name} missing from /metrics");
            Assert.Equal((name, type), (name, actual));
        }

        Assert.Equal(expected.Keys.Order(), types.Keys.Where(k => k.StartsWith("gatehouse_", StringComparison.Ordinal)).Order());
    }

    [Fact]
    public async Task Statements_are_counted_by_class_and_decision_and_time_upstream_masking_and_audit()
    {
        const string allowed = "gatehouse_statements_total{class=\"read\",decision=\"allow\"}";
        const string denied = "gatehouse_statements_total{class=\"ddl\",decision=\"deny\"}";
        var before = await ScrapeAsync();

        var select = await PsqlAsync("agent-metrics", "SELECT email FROM customers WHERE id <= 3");
        Assert.True(select.ExitCode == 0, select.Stderr);
        Assert.DoesNotContain("customer1@example.com", select.Stdout, StringComparison.Ordinal);
        var ddl = await PsqlAsync("agent-metrics", "CREATE TABLE metrics_probe (id int)");
        Assert.NotEqual(0, ddl.ExitCode);
        Assert.Contains("denied by rule no-ddl", ddl.Stderr, StringComparison.Ordinal);

        var after = await ScrapeAsync();
        Assert.Equal(Value(before, allowed) + 1, Value(after, allowed));
        Assert.Equal(Value(before, denied) + 1, Value(after, denied));
        Assert.Equal(Value(before, "gatehouse_masked_values_total") + 3, Value(after, "gatehouse_masked_values_total"));
        Assert.Equal(Value(before, "gatehouse_sessions_total{front_door=\"wire\"}") + 2, Value(after, "gatehouse_sessions_total{front_door=\"wire\"}"));

        // The SELECT went upstream (the refused DDL did not): one more first response timed, in a bucket of at most 8s.
        Assert.Equal(Value(before, "gatehouse_upstream_latency_seconds_count") + 1, Value(after, "gatehouse_upstream_latency_seconds_count"));
        Assert.True(Value(after, "gatehouse_upstream_latency_seconds_sum") > Value(before, "gatehouse_upstream_latency_seconds_sum"));
        Assert.Equal(Value(after, "gatehouse_upstream_latency_seconds_count"), Value(after, "gatehouse_upstream_latency_seconds_bucket{le=\"8.192\"}"));

        // Each session's records were written in batches whose latency was observed: the store gets journaled
        // records within AuditTrail.LazyFlush, so the batch may come just after the psql sessions ended.
        for (int attempt = 0; attempt < 50 && Value(after, "gatehouse_audit_write_seconds_count") <= Value(before, "gatehouse_audit_write_seconds_count"); attempt++)
        {
            await Task.Delay(100);
            after = await ScrapeAsync();
        }

        Assert.True(Value(after, "gatehouse_audit_write_seconds_count") > Value(before, "gatehouse_audit_write_seconds_count"));
        Assert.Equal(1, Value(after, "gatehouse_audit_healthy"));
    }

    [Fact]
    public async Task The_review_queue_gauge_goes_to_1_while_a_statement_is_held_and_back_to_0_with_its_wait_observed()
    {
        const string waits = "gatehouse_review_wait_seconds_count{outcome=\"approved\"}";
        string marker = Guid.NewGuid().ToString("N")[..8];
        var before = await ScrapeAsync();
        Assert.Equal(0, Value(before, "gatehouse_reviews_pending"));

        var psql = PsqlAsync("agent-held", $"INSERT INTO payments (card_number) VALUES ('{marker}') RETURNING card_number");
        string id = await ReviewSupport.PendingAsync(Gateway, marker);
        Assert.Equal(1, Value(await ScrapeAsync(), "gatehouse_reviews_pending"));

        Assert.Equal(HttpStatusCode.OK, await ReviewSupport.DecideAsync(Gateway, id, approve: true, ReviewSupport.Reviewer(Gateway)));
        var result = await psql;
        Assert.True(result.ExitCode == 0, result.Stderr);
        var after = await ScrapeAsync();
        Assert.Equal(0, Value(after, "gatehouse_reviews_pending"));
        Assert.Equal(Value(before, waits) + 1, Value(after, waits));
        const string approved = "gatehouse_statements_total{class=\"write\",decision=\"approved\"}";
        Assert.Equal(Value(before, approved) + 1, Value(after, approved));
    }

    [Fact]
    public async Task Sessions_of_the_mcp_door_are_counted_under_their_front_door()
    {
        const string mcp = "gatehouse_sessions_total{front_door=\"mcp\"}";
        var before = await ScrapeAsync();
        await using var client = await McpFixture.ClientAsync(Gateway, Gateway.Token("agent-mcp-metrics"));
        var (result, _) = await McpFixture.QueryAsync(client, "SELECT count(*) FROM orders");
        Assert.True(result.IsError is not true);
        var after = await ScrapeAsync();
        Assert.Equal(Value(before, mcp) + 1, Value(after, mcp));
        Assert.Equal(Value(before, "gatehouse_sessions_total{front_door=\"wire\"}"), Value(after, "gatehouse_sessions_total{front_door=\"wire\"}"));
        Assert.Equal(1, Value(after, "gatehouse_sessions{front_door=\"mcp\"}")); // pooled for mcp.pool_idle
    }

    [Fact]
    public async Task The_lease_gauges_count_the_lease_of_an_open_session()
    {
        var before = await ScrapeAsync();
        await using (var connection = await Gateway.OpenAsync(Gateway.Token("agent-lease-" + Guid.NewGuid().ToString("N")[..6])))
        {
            await new NpgsqlCommand("SELECT 1", connection).ExecuteScalarAsync();
            var open = await ScrapeAsync();
            Assert.Equal(Value(before, "gatehouse_credential_leases") + 1, Value(open, "gatehouse_credential_leases"));
            Assert.Equal(Value(before, "gatehouse_leased_sessions") + 1, Value(open, "gatehouse_leased_sessions"));
            Assert.Equal(Value(before, "gatehouse_sessions{front_door=\"wire\"}") + 1, Value(open, "gatehouse_sessions{front_door=\"wire\"}"));
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        // At most as before: a pooled MCP session of another test may also end meanwhile.
        while (Value(await ScrapeAsync(), "gatehouse_leased_sessions") > Value(before, "gatehouse_leased_sessions"))
        {
            Assert.True(DateTime.UtcNow < deadline, "the ended session still counts as leased");
            await Task.Delay(50);
        }
    }

    private async Task<string> ScrapeAsync()
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(Gateway.Gateway.AdminUrl + "/metrics");
    }

    /// <summary>The value of one series (name and labels exactly as exposed); 0 when the series has no sample yet.</summary>
    private static double Value(string metrics, string series)
    {
        var match = Regex.Match(metrics, "^" + Regex.Escape(series) + @" (\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    private Task<ProcessRunner.Result> PsqlAsync(string subject, string sql) => ProcessRunner.RunAsync(
        ProcessRunner.PostgresTool("psql", Gateway.Postgres.BinDirectory),
        ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1", ["PGPORT"] = Gateway.Port.ToString(CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
            ["PGUSER"] = "agent", ["PGPASSWORD"] = Gateway.Token(subject), ["PGSSLMODE"] = "require",
        },
        timeout: TimeSpan.FromSeconds(60));
}
