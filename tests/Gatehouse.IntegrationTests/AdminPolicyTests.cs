using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Npgsql;
using Xunit.Abstractions;
using static Gatehouse.IntegrationTests.AdminHttp;

namespace Gatehouse.IntegrationTests;

/// <summary>/api/policy over real HTTP: the policy in force, validation as `gatehouse policy check` reports it, replacement.</summary>
[Collection(AdminGatewayCollection.Name)]
public sealed class AdminPolicyTests(AdminGatewayFixture fixture)
{
    private const string Broken = """
        identities:
          coding-agents: { claims: { groups: ai-agents } }
        grants:
          - to: coding-agents
            targets: [shop, nowhere]
            db_roles: [app_read]
            rules:
              - { id: r1, when: { class: writes }, then: deny }
          - to: nobody
            targets: [shop]
        """;

    private static string Without(string policy, string ruleId) =>
        string.Join('\n', policy.Split('\n').Where(line => !line.Contains($"id: {ruleId},", StringComparison.Ordinal)));

    private Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> PutAsync(string yaml, string? ifMatch = null) =>
        SendAsync(fixture, HttpMethod.Put, "/api/policy", Token(fixture, Role.Admin), yaml, "text/yaml",
            ifMatch is null ? null : new Dictionary<string, string> { ["If-Match"] = ifMatch });

    [Fact]
    public async Task The_policy_in_force_is_shown_with_its_version()
    {
        var (status, body, response) = await SendAsync(fixture, HttpMethod.Get, "/api/policy", Token(fixture, Role.Auditor));
        Assert.Equal(HttpStatusCode.OK, status);
        string text = await File.ReadAllTextAsync(fixture.PolicyPath);
        Assert.Equal(text, body.GetProperty("source").GetString());
        string version = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(fixture.PolicyPath)));
        Assert.Equal(version, body.GetProperty("version").GetString());
        Assert.Equal($"\"{version}\"", response.Headers.ETag!.Tag);
        Assert.Equal(Path.GetFullPath(fixture.PolicyPath), body.GetProperty("path").GetString());
        Assert.True(body.GetProperty("loaded_at").GetDateTimeOffset() <= DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task Validation_errors_carry_the_line_column_and_message_of_gatehouse_policy_check()
    {
        string file = Path.Combine(fixture.Directory, $"broken-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, Broken);
        var check = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["policy", "check", file, "--config", fixture.ConfigPath]);
        Assert.Equal(1, check.ExitCode);
        var expected = check.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var rest = line[(file.Length + 1)..];
            var parts = rest.Split(':', 3);
            return (int.Parse(parts[0]), int.Parse(parts[1]), parts[2][" error: ".Length..]);
        }).ToList();
        Assert.True(expected.Count >= 3, check.Stderr);

        var (status, body, response) = await SendAsync(fixture, HttpMethod.Post, "/api/policy/validate", Token(fixture, Role.Admin), Broken, "application/yaml");
        AssertProblem(response, body, HttpStatusCode.UnprocessableEntity);
        var errors = body.GetProperty("errors").EnumerateArray()
            .Select(e => (e.GetProperty("line").GetInt32(), e.GetProperty("column").GetInt32(), e.GetProperty("message").GetString()!)).ToList();
        Assert.Equal(expected, errors);
        Assert.Contains(errors, e => e.Item3.Contains("nowhere", StringComparison.Ordinal)); // the configured targets are checked too

        (status, body, _) = await SendAsync(fixture, HttpMethod.Post, "/api/policy/validate", Token(fixture, Role.Admin), AdminGatewayFixture.Policy, "text/plain");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("valid").GetBoolean());
        Assert.Equal("ok: 4 identities, 1 grants, 2 rules", body.GetProperty("summary").GetString());
    }

    [Fact]
    public async Task A_replaced_policy_decides_the_next_statement_and_bad_ones_change_nothing()
    {
        string original = await File.ReadAllTextAsync(fixture.PolicyPath);
        string version = (await GetAsync(fixture, "/api/policy")).GetProperty("version").GetString()!;
        await using var connection = await fixture.OpenAsync();
        await using var update = new NpgsqlCommand("UPDATE payments SET amount = amount WHERE id = 1", connection);
        var denied = await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync());
        Assert.Equal("42501", denied.SqlState);
        try
        {
            // Bad YAML and a stale If-Match leave the policy and its file as they were.
            var (status, body, response) = await PutAsync("grants: [\n  - to: x\n");
            AssertProblem(response, body, HttpStatusCode.UnprocessableEntity);
            Assert.True(body.GetProperty("errors").GetArrayLength() >= 1);
            (status, body, response) = await PutAsync(Without(original, "payments-readonly"), "\"0000\"");
            AssertProblem(response, body, HttpStatusCode.PreconditionFailed);
            Assert.Equal(original, await File.ReadAllTextAsync(fixture.PolicyPath));
            Assert.Equal(version, (await GetAsync(fixture, "/api/policy")).GetProperty("version").GetString());
            Assert.Equal("42501", (await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync())).SqlState);

            // The 200 comes once the new policy is in force: the very next statement on an open session is allowed.
            (status, body, response) = await PutAsync(Without(original, "payments-readonly"), $"\"{version}\"");
            Assert.True(status == HttpStatusCode.OK, body.ToString());
            Assert.Equal(0, await update.ExecuteNonQueryAsync()); // allowed, and ran: no payment has id 1
            string replaced = body.GetProperty("version").GetString()!;
            Assert.Equal(Without(original, "payments-readonly"), await File.ReadAllTextAsync(fixture.PolicyPath));
            Assert.Equal(replaced, (await GetAsync(fixture, "/api/policy", Role.Auditor)).GetProperty("version").GetString());
            Assert.Empty(Directory.GetFiles(fixture.Directory, ".policy.yaml.*")); // no temporary file left behind

            (status, _, _) = await PutAsync(original, $"\"{version}\"");
            Assert.Equal(HttpStatusCode.PreconditionFailed, status);

            // The replacement is in the audit trail: who, and from which version to which.
            string? record = null;
            for (var deadline = DateTime.UtcNow.AddSeconds(10); record is null && DateTime.UtcNow < deadline; await Task.Delay(200))
            {
                var export = await AuditCli.RunAsync("audit", "export", "--config", fixture.ConfigPath, "--format", "jsonl");
                record = export.Stdout.Split('\n').FirstOrDefault(l => l.Contains("\"policy.replace\"", StringComparison.Ordinal) && l.Contains(replaced, StringComparison.Ordinal));
            }

            Assert.NotNull(record);
            Assert.Contains("previous", record, StringComparison.Ordinal);
            Assert.Contains(version, record, StringComparison.Ordinal);
        }
        finally
        {
            var (status, body, _) = await PutAsync(original);
            Assert.True(status == HttpStatusCode.OK, body.ToString());
        }

        Assert.Equal("42501", (await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync())).SqlState);
    }
}

/// <summary>Two gateways on one PostgreSQL state store: a policy replaced through one is in force on the other within a second.</summary>
[Collection(AdminGatewayCollection.Name)]
public sealed class AdminPolicyDistributionTests(AdminGatewayFixture fixture, ITestOutputHelper output)
{
    private static string AdminUrl(GatewayProcess gateway)
    {
        var line = File.ReadAllLines(gateway.ConfigPath).First(l => l.TrimStart().StartsWith("admin: 127.0.0.1:", StringComparison.Ordinal));
        return "http://" + line.Trim()["admin: ".Length..];
    }

    private static async Task<string> TokenAsync(GatewayProcess gateway, string subject, string claim)
    {
        var result = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["token", "--dev", "--sub", subject, "--claim", claim, "--config", gateway.ConfigPath]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        return result.Stdout.Trim().Split('\n')[^1];
    }

    [Fact]
    public async Task A_policy_put_on_one_instance_changes_the_decision_on_the_other_within_a_second()
    {
        var store = await AuditPostgresStore.CreateAsync(fixture);
        await using var first = store.Prepare();
        await using var second = store.Prepare();
        first.Start();
        second.Start();
        await using var agent = await second.OpenAsync(await second.TokenAsync("agent-pg"));
        await using var update = new NpgsqlCommand("UPDATE payments SET amount = amount WHERE id = 1", agent);
        Assert.Equal("42501", (await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync())).SqlState);
        await using var firstAgent = await first.OpenAsync(await first.TokenAsync("agent-pg"));

        string policy = string.Join('\n', (await File.ReadAllTextAsync(first.Directory + "/policy.yaml")).Split('\n').Where(l => !l.Contains("id: payments-readonly,", StringComparison.Ordinal)));
        Assert.DoesNotContain("payments-readonly", policy, StringComparison.Ordinal);
        string admin = await TokenAsync(first, "admin-pg", "roles=gatehouse-admin");
        var (status, body, _) = await AdminHttp.SendAsync(AdminUrl(first), HttpMethod.Put, "/api/policy", admin, policy, "text/yaml");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        var watch = Stopwatch.StartNew();
        string version = body.GetProperty("version").GetString()!;

        while (true)
        {
            try
            {
                Assert.Equal(0, await update.ExecuteNonQueryAsync()); // allowed, and ran: no payment has id 1
                break;
            }
            catch (PostgresException ex) when (ex.SqlState == "42501" && watch.Elapsed < TimeSpan.FromSeconds(1))
            {
                await Task.Delay(20);
            }
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
        output.WriteLine($"the other instance allowed the statement {watch.Elapsed.TotalMilliseconds:0} ms after the PUT's 200");
        Assert.Equal(policy, await File.ReadAllTextAsync(second.Directory + "/policy.yaml"));
        string auditor = await TokenAsync(second, "auditor-pg", "roles=auditor");
        var shown = await AdminHttp.SendAsync(AdminUrl(second), HttpMethod.Get, "/api/policy", auditor);
        Assert.Equal(version, shown.Body.GetProperty("version").GetString());

        // A third instance started later adopts the revision of record at start-up.
        await using var third = store.Prepare();
        File.Copy(fixture.PolicyPath, third.Directory + "/policy.yaml", overwrite: true);
        third.Start();
        await using var late = await third.OpenAsync(await third.TokenAsync("agent-pg"));
        await using var lateUpdate = new NpgsqlCommand("UPDATE payments SET amount = amount WHERE id = 1", late);
        Assert.Equal(0, await lateUpdate.ExecuteNonQueryAsync());
    }
}
