using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using static Gatehouse.IntegrationTests.AdminHttp;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// A gateway whose policy records result rows for one group (<c>audit: { results: true }</c>, small bounds) and not
/// for another; both grants mask customers' ssn and email.
/// </summary>
public sealed class AuditResultFixture : TestGateway, IAsyncLifetime
{
    public const int MaxRows = 5;
    public const int MaxBytes = 4096;

    public static string Policy => $$"""
        identities:
          recorded: { claims: { groups: recorded-agents } }
          unrecorded: { claims: { groups: ai-agents } }
          gatehouse-auditors: { claims: { roles: auditor } }
        grants:
          - to: recorded
            targets: [shop]
            db_roles: [app_read]
            masks:
              - { columns: ["public.customers.ssn"], with: last4 }
              - { columns: ["public.customers.email"], with: email }
            audit: { results: true, max_rows: {{MaxRows}}, max_bytes: {{MaxBytes}} }
          - to: unrecorded
            targets: [shop]
            db_roles: [app_read]
            masks:
              - { columns: ["public.customers.ssn"], with: last4 }
        """;

    public Task InitializeAsync() => InitializeAsync(new TestGatewayOptions
    {
        Policy = Policy,
        ExtraConfig = "admin:\n  identities: gatehouse-auditors\n  auditors: gatehouse-auditors\n",
    });

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}

[CollectionDefinition(Name)]
public sealed class AuditResultCollection : ICollectionFixture<AuditResultFixture>
{
    public const string Name = "audit-results";
}

/// <summary>
/// Result rows in the trail are what the client received: masked values in their masked form (the raw value is
/// nowhere in the stored trail), bounded by the grant with truncated: true, absent for a grant that does not ask;
/// replay shows them over the admin API and the CLI.
/// </summary>
[Collection(AuditResultCollection.Name)]
public sealed class AuditResultTests(AuditResultFixture fixture)
{
    private string StatePath => Path.Combine(fixture.Directory, "state.db");

    private string RecordedToken(string subject) => fixture.Token(subject, ("groups", "recorded-agents"));

    private static async Task<List<string?[]>> ReadAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string?[]>();
        while (await reader.ReadAsync())
        {
            rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))]);
        }

        return rows;
    }

    /// <summary>The outcomes of a replay (CLI --json) of these statements, in their order (a client's own queries,
    /// such as Npgsql's type loading, are left out).</summary>
    private static async Task<List<JsonElement>> CliOutcomesAsync(string config, string session, params string[] statements)
    {
        var events = (await AuditCli.JsonAsync("sessions", "replay", session, "--config", config, "--json")).EnumerateArray().ToList();
        var sql = events.Where(e => e.GetProperty("kind").GetString() == "statement")
            .ToDictionary(e => e.GetProperty("sent").GetProperty("statement").GetInt64(), e => e.GetProperty("sent").GetProperty("sql").GetString()!);
        return [.. events.Where(e => e.GetProperty("kind").GetString() == "outcome").Select(e => e.GetProperty("received"))
            .Where(o => statements.Contains(sql[o.GetProperty("statement").GetInt64()]))];
    }

    private static string?[][] Rows(JsonElement result) =>
        [.. result.GetProperty("rows").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? null : v.GetString()).ToArray())];

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetString()!)];

    [Fact]
    public async Task Npgsql_rows_are_recorded_as_the_client_saw_them_with_masked_values_masked_and_raw_values_nowhere()
    {
        string subject = $"rows-npgsql-{Guid.NewGuid():N}"[..24];
        string[] sql =
        [
            "SELECT id, name, ssn, email FROM customers WHERE id IN (1, 2, 3) ORDER BY id",
            // Untraceable (an expression over masked data): the client gets the redaction, and so does the trail.
            "SELECT upper(ssn) AS shouted FROM customers WHERE id = 4",
            "SELECT 42::int4 AS answer, 1.5::float8 AS ratio, true AS yes",
        ];
        List<string?[]> plain, tainted, binary;
        await using (var connection = await fixture.OpenAsync(RecordedToken(subject)))
        {
            plain = await ReadAsync(connection, sql[0]);
            tainted = await ReadAsync(connection, sql[1]);
            binary = await ReadAsync(connection, sql[2]);
        }

        Assert.Equal(3, plain.Count);
        Assert.DoesNotContain(plain, r => r[2] == "123-45-0001" || r[3] == "customer1@example.com");
        var session = Assert.Single(await AuditCli.EndedSessionsAsync(fixture.ConfigPath, subject, 1));
        string id = session.GetProperty("session").GetString()!;

        var outcomes = await CliOutcomesAsync(fixture.ConfigPath, id, sql);
        var results = outcomes.Select(o => o.GetProperty("result")).ToList();
        Assert.Equal(3, results.Count);
        Assert.Equal(["id", "name", "ssn", "email"], Strings(results[0].GetProperty("columns")));
        Assert.Equal(["ssn", "email"], Strings(results[0].GetProperty("masked_columns")));
        Assert.Equal(plain, Rows(results[0]));
        Assert.False(results[0].GetProperty("truncated").GetBoolean());
        Assert.Equal(tainted, Rows(results[1]));
        Assert.Equal(["shouted"], Strings(results[1].GetProperty("masked_columns")));
        // Npgsql reads these in binary: integers, booleans (and text) are kept as PostgreSQL prints them, other types
        // as \x hex of the bytes the client got.
        Assert.Equal("42|1.5|True", string.Join('|', binary[0]));
        Assert.Equal("42|\\x3ff8000000000000|t", string.Join('|', Rows(results[2])[0]));

        // The admin API's replay carries the same result on the outcome events.
        var replay = await GetAsync(fixture, $"/api/sessions/{id}/replay", Role.Auditor);
        long first = outcomes[0].GetProperty("statement").GetInt64();
        var apiResult = Assert.Single(replay.GetProperty("events").EnumerateArray(), e => e.GetProperty("kind").GetString() == "outcome" && e.GetProperty("seq").GetInt64() == first).GetProperty("result");
        Assert.Equal(plain, Rows(apiResult));
        Assert.Equal(["ssn", "email"], Strings(apiResult.GetProperty("masked_columns")));

        // The raw values of the masked columns are nowhere in the stored trail, nor in its export.
        var raw = new[] { "123-45-0001", "123-45-0002", "123-45-0003", "123-45-0004", "customer2@example.com", "customer3@example.com" };
        byte[] state = AuditCli.StateBytes(StatePath);
        Assert.True(state.AsSpan().IndexOf(Encoding.UTF8.GetBytes(plain[1][1]!)) >= 0, "the grep finds a recorded unmasked value");
        var export = await AuditCli.RunAsync("audit", "export", "--config", fixture.ConfigPath, "--format", "jsonl");
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.Contains(plain[0][2]!, export.Stdout, StringComparison.Ordinal);
        foreach (string value in raw)
        {
            Assert.True(state.AsSpan().IndexOf(Encoding.UTF8.GetBytes(value)) < 0, $"{value} is in the state file");
            Assert.DoesNotContain(value, export.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Psql_rows_past_the_grants_bounds_are_cut_and_marked_truncated_and_replay_shows_a_table()
    {
        string subject = $"rows-psql-{Guid.NewGuid():N}"[..22];
        var env = new Dictionary<string, string>
        {
            ["PGHOST"] = "127.0.0.1", ["PGPORT"] = fixture.Port.ToString(CultureInfo.InvariantCulture), ["PGDATABASE"] = TestGateway.Target,
            ["PGUSER"] = "agent", ["PGPASSWORD"] = RecordedToken(subject), ["PGSSLMODE"] = "require", ["PGCONNECT_TIMEOUT"] = "10",
        };
        string[] sql = ["SELECT id, ssn FROM customers ORDER BY id LIMIT 8", "SELECT g, repeat('x', 3000) FROM generate_series(1, 3) g", "SELECT 1 AS one WHERE false"];
        var psql = await ProcessRunner.RunAsync(ProcessRunner.PostgresTool("psql", fixture.Postgres.BinDirectory), ["-X", "-At", "-c", sql[0], "-c", sql[1], "-c", sql[2]], env);
        Assert.True(psql.ExitCode == 0, psql.Stderr);
        var lines = psql.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(8 + 3, lines.Length);

        var session = Assert.Single(await AuditCli.EndedSessionsAsync(fixture.ConfigPath, subject, 1));
        string id = session.GetProperty("session").GetString()!;
        var results = (await CliOutcomesAsync(fixture.ConfigPath, id, sql)).Select(o => o.GetProperty("result")).ToList();

        // max_rows: the first five rows, as psql printed them.
        Assert.Equal(AuditResultFixture.MaxRows, results[0].GetProperty("rows").GetArrayLength());
        Assert.Equal(lines[..AuditResultFixture.MaxRows], Rows(results[0]).Select(r => string.Join('|', r)));
        Assert.True(results[0].GetProperty("truncated").GetBoolean());
        // max_bytes: one 3000-byte row fits in 4096, the second would not.
        Assert.Single(Rows(results[1]));
        Assert.True(results[1].GetProperty("truncated").GetBoolean());
        // No rows: the columns, an empty list, not truncated.
        Assert.Equal(["one"], Strings(results[2].GetProperty("columns")));
        Assert.Empty(Rows(results[2]));
        Assert.False(results[2].GetProperty("truncated").GetBoolean());

        var table = await AuditCli.RunAsync("sessions", "replay", id, "--config", fixture.ConfigPath);
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("ssn (masked)", table.Stdout, StringComparison.Ordinal);
        Assert.Contains(lines[0].Split('|')[1], table.Stdout, StringComparison.Ordinal);
        Assert.Contains("truncated: the client got more than the grant's audit bounds keep", table.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mcp_query_rows_are_recorded_by_the_same_relay_as_the_client_received_them()
    {
        string subject = $"rows-mcp-{Guid.NewGuid():N}"[..21];
        const string sql = "SELECT id, ssn, email FROM customers WHERE id IN (5, 6) ORDER BY id";
        List<string?[]> seen;
        await using (var client = await McpFixture.ClientAsync(fixture, RecordedToken(subject)))
        {
            var (call, json) = await McpFixture.QueryAsync(client, sql);
            Assert.False(call.IsError, json.ToString());
            seen = McpFixture.Rows(json);
        }

        Assert.Equal(2, seen.Count);
        Assert.DoesNotContain(seen, r => r[1] == "123-45-0005");
        // The MCP door's wire session stays pooled for a while: read its replay without waiting for its end.
        var recorded = await EventuallyAsync(async () =>
        {
            var sessions = (await AuditCli.JsonAsync("sessions", "list", "--config", fixture.ConfigPath, "--identity", subject, "--json")).EnumerateArray().ToList();
            if (sessions.Count != 1)
            {
                return null;
            }

            var outcomes = await CliOutcomesAsync(fixture.ConfigPath, sessions[0].GetProperty("session").GetString()!, sql);
            return outcomes.Count == 1 ? outcomes : null;
        }, what: "the MCP query's outcome");
        var result = recorded[0].GetProperty("result");
        Assert.Equal(seen, Rows(result));
        Assert.Equal(["ssn", "email"], Strings(result.GetProperty("masked_columns")));
    }

    [Fact]
    public async Task A_grant_without_audit_results_records_no_rows()
    {
        string subject = $"rows-none-{Guid.NewGuid():N}"[..22];
        const string sql = "SELECT id, name, ssn FROM customers WHERE id IN (7, 8, 9)";
        await using (var connection = await fixture.OpenAsync(fixture.Token(subject)))
        {
            Assert.Equal(3, (await ReadAsync(connection, sql)).Count);
        }

        var session = Assert.Single(await AuditCli.EndedSessionsAsync(fixture.ConfigPath, subject, 1));
        string id = session.GetProperty("session").GetString()!;
        var outcome = Assert.Single(await CliOutcomesAsync(fixture.ConfigPath, id, sql));
        Assert.Equal("SELECT 3", outcome.GetProperty("command_tag").GetString());
        Assert.Equal(JsonValueKind.Null, outcome.GetProperty("result").ValueKind);
        var replay = await GetAsync(fixture, $"/api/sessions/{id}/replay", Role.Auditor);
        Assert.All(replay.GetProperty("events").EnumerateArray(), e => Assert.Equal(JsonValueKind.Null, e.GetProperty("result").ValueKind));
        Assert.True(AuditCli.StateBytes(StatePath).AsSpan().IndexOf("Customer 8"u8) < 0, "an unrecorded row's value is in the state file");
    }
}
