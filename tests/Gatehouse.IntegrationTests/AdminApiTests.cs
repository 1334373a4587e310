using System.Net;
using System.Text.Json;
using static Gatehouse.IntegrationTests.AdminHttp;

namespace Gatehouse.IntegrationTests;

/// <summary>The admin API over real HTTP: every endpoint for every role, problem documents, leases, the OpenAPI document.</summary>
[Collection(AdminGatewayCollection.Name)]
public sealed class AdminApiTests(AdminGatewayFixture fixture)
{
    // Expected status per role, in the order None, Agent, Approver, Auditor, Admin.
    public static TheoryData<string, string, string?, string, int[]> Endpoints => new()
    {
        { "GET", "/api/sessions", null, "", [401, 403, 403, 200, 200] },
        { "GET", "/api/sessions?limit=5&decision=deny", null, "", [401, 403, 403, 200, 200] },
        { "GET", "/api/sessions/live", null, "", [401, 403, 403, 200, 200] },
        { "GET", "/api/sessions/no-such-session", null, "", [401, 403, 403, 404, 404] },
        { "GET", "/api/sessions/no-such-session/replay", null, "", [401, 403, 403, 404, 404] },
        { "DELETE", "/api/sessions/no-such-session", null, "", [401, 403, 403, 403, 404] },
        { "GET", "/api/policy", null, "", [401, 403, 403, 200, 200] },
        { "POST", "/api/policy/validate", AdminGatewayFixture.Policy, "text/yaml", [401, 403, 403, 403, 200] },
        { "PUT", "/api/policy", AdminGatewayFixture.Policy, "application/yaml", [401, 403, 403, 403, 200] },
        { "GET", "/api/leases", null, "", [401, 403, 403, 200, 200] },
        { "GET", "/api/reviews", null, "", [401, 403, 200, 200, 200] },
        { "GET", "/api/reviews/no-such-review", null, "", [401, 403, 404, 404, 404] },
        { "POST", "/api/reviews/no-such-review/approve", "{}", "application/json", [401, 403, 404, 403, 403] },
        { "POST", "/api/reviews/no-such-review/reject", "{\"reason\":\"no\"}", "application/json", [401, 403, 404, 403, 403] },
        { "GET", "/healthz", null, "", [200, 200, 200, 200, 200] },
        { "GET", "/readyz", null, "", [200, 200, 200, 200, 200] },
        { "GET", "/openapi/v1.json", null, "", [200, 200, 200, 200, 200] },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Each_endpoint_answers_each_role_as_the_contract_says(string method, string path, string? body, string contentType, int[] expected)
    {
        for (int i = 0; i < AllRoles.Length; i++)
        {
            var (status, json, response) = await SendAsync(fixture, new HttpMethod(method), path, Token(fixture, AllRoles[i]), body, contentType);
            Assert.True((int)status == expected[i], $"{method} {path} as {AllRoles[i]}: {(int)status} {json}");
            if ((int)status >= 400)
            {
                AssertProblem(response, json, status);
            }

            if (status == HttpStatusCode.Unauthorized)
            {
                Assert.Equal("Bearer", response.Headers.WwwAuthenticate.First().Scheme);
            }
        }
    }

    [Theory]
    [InlineData("localhost", HttpStatusCode.OK)]
    [InlineData("127.0.0.1", HttpStatusCode.OK)]
    [InlineData("LOCALHOST", HttpStatusCode.OK)]
    [InlineData("gatehouse.test", HttpStatusCode.OK)]
    [InlineData("console.ops.test", HttpStatusCode.OK)]
    [InlineData("gatehouse.test.attacker.example", HttpStatusCode.BadRequest)]
    [InlineData("rebound.attacker.example", HttpStatusCode.BadRequest)]
    [InlineData("127.0.0.1.nip.io", HttpStatusCode.BadRequest)]
    [InlineData("localhost.attacker.example", HttpStatusCode.BadRequest)]
    public async Task A_loopback_admin_port_answers_only_to_loopback_names_and_admin_allowed_hosts(string host, HttpStatusCode expected)
    {
        // DNS rebinding: a page of another site names its own host, resolved to 127.0.0.1, and the browser sends that name.
        var port = new Uri(fixture.Gateway.AdminUrl).Port;
        foreach (var path in new[] { "/metrics", "/healthz", "/api/sessions", "/dev-issuer", "/" })
        {
            using var http = new HttpClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Gateway.AdminUrl + path);
            request.Headers.Host = $"{host}:{port}";
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token(fixture, Role.Admin));
            using var response = await http.SendAsync(request);
            if (expected == HttpStatusCode.OK)
            {
                Assert.True(response.StatusCode != HttpStatusCode.BadRequest, $"{path} with Host {host}: {(int)response.StatusCode}");
            }
            else
            {
                Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path} with Host {host}: {(int)response.StatusCode}");
                Assert.DoesNotContain("gatehouse_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task The_dev_issuer_url_the_demo_advertises_is_a_page_listing_its_endpoints()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(fixture.Gateway.AdminUrl + "/dev-issuer");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        string page = await response.Content.ReadAsStringAsync();
        Assert.Contains("/dev-issuer/.well-known/openid-configuration", page, StringComparison.Ordinal);
        Assert.Contains("/dev-issuer/jwks", page, StringComparison.Ordinal);
        Assert.StartsWith("default-src 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
    }

    [Fact]
    public async Task Errors_are_problem_documents_with_one_clear_detail()
    {
        string admin = Token(fixture, Role.Admin)!;
        string approver = Token(fixture, Role.Approver)!;

        var (status, body, response) = await SendAsync(fixture, HttpMethod.Get, "/api/no-such-thing", admin);
        AssertProblem(response, body, HttpStatusCode.NotFound);
        Assert.Contains("/api/no-such-thing", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        (status, body, response) = await SendAsync(fixture, HttpMethod.Post, "/api/reviews/r1/approve", approver, "{not json", "application/json");
        AssertProblem(response, body, HttpStatusCode.BadRequest);
        Assert.StartsWith("the request body is not valid JSON", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // A rejection without a reason is a bad request, whatever the review.
        (status, body, response) = await SendAsync(fixture, HttpMethod.Post, "/api/reviews/r1/reject", approver, "{}", "application/json");
        AssertProblem(response, body, HttpStatusCode.BadRequest);
        Assert.Contains("reason", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        (status, body, response) = await SendAsync(fixture, HttpMethod.Get, "/api/sessions?limit=lots", admin);
        AssertProblem(response, body, HttpStatusCode.BadRequest);
        Assert.Equal("limit must be a number from 1 to 500", body.GetProperty("detail").GetString());

        (status, body, response) = await SendAsync(fixture, HttpMethod.Get, "/api/sessions?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", admin);
        AssertProblem(response, body, HttpStatusCode.BadRequest);
        Assert.Equal("since (2026-12-02 00:00:00Z) is not before until (2026-12-01 00:00:00Z)", body.GetProperty("detail").GetString());

        (status, body, response) = await SendAsync(fixture, HttpMethod.Get, "/api/sessions?before=%%%", admin);
        AssertProblem(response, body, HttpStatusCode.BadRequest);

        (status, body, response) = await SendAsync(fixture, HttpMethod.Get, "/api/reviews?limit=x", admin);
        AssertProblem(response, body, HttpStatusCode.BadRequest);

        (status, body, response) = await SendAsync(fixture, HttpMethod.Post, "/api/policy/validate", admin, "{\"a\":1}", "application/json");
        AssertProblem(response, body, HttpStatusCode.UnsupportedMediaType);

        Assert.Contains("application/json", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        (status, body, response) = await SendAsync(fixture, HttpMethod.Patch, "/api/policy", admin, "x", "text/yaml");
        AssertProblem(response, body, HttpStatusCode.MethodNotAllowed);
    }

    [Fact]
    public async Task A_trail_record_that_cannot_be_read_is_a_500_problem_without_a_stack_trace()
    {
        string subject = $"tamper-{Guid.NewGuid():N}"[..20];
        await using (var connection = await fixture.OpenAsync(fixture.Token(subject)))
        {
            await using var command = new Npgsql.NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync();
        }

        var list = await EventuallyAsync<JsonElement[]>(async () =>
        {
            var page = await GetAsync(fixture, $"/api/sessions?identity={subject}", Role.Auditor);
            var sessions = page.GetProperty("sessions").EnumerateArray().ToArray();
            return sessions.Length == 1 && sessions[0].GetProperty("ended").ValueKind != JsonValueKind.Null ? sessions : null;
        }, what: "the session's end in the trail");
        string id = list[0].GetProperty("session").GetString()!;

        // Edited by hand in the store: the reader cannot parse the statement record any more.
        await using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(fixture.Directory, "state.db")}"))
        {
            await db.OpenAsync();
            await using var edit = db.CreateCommand();
            edit.CommandText = "UPDATE audit_records SET body = 'not json' WHERE session_id = $id AND kind = 'statement'";
            edit.Parameters.AddWithValue("$id", id);
            Assert.True(await edit.ExecuteNonQueryAsync() >= 1);
        }

        var (status, body, response) = await SendAsync(fixture, HttpMethod.Get, $"/api/sessions/{id}", Token(fixture, Role.Auditor));
        AssertProblem(response, body, HttpStatusCode.InternalServerError);
        Assert.Contains("run gatehouse audit verify", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", body.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Leases_show_the_role_leased_for_a_session()
    {
        string subject = $"lease-{Guid.NewGuid():N}"[..20];
        await using var connection = await fixture.OpenAsync(fixture.Token(subject));
        var leases = (await GetAsync(fixture, "/api/leases", Role.Auditor)).GetProperty("leases").EnumerateArray().ToList();
        var mine = Assert.Single(leases, l => l.GetProperty("subject").GetString() == subject);
        Assert.Equal(TestGateway.Target, mine.GetProperty("target").GetString());
        Assert.StartsWith("gh_", mine.GetProperty("role").GetString(), StringComparison.Ordinal);
        Assert.True(mine.GetProperty("expires").GetDateTimeOffset() > mine.GetProperty("created").GetDateTimeOffset());
        Assert.Equal(["app_read", "app_write"], mine.GetProperty("db_roles").EnumerateArray().Select(r => r.GetString()));
    }

    [Fact]
    public async Task The_openapi_document_lists_every_admin_path_with_names()
    {
        var document = await GetAsync(fixture, "/openapi/v1.json", Role.None);
        var paths = document.GetProperty("paths");
        string[] expected =
        [
            "/api/sessions", "/api/sessions/live", "/api/sessions/{id}", "/api/sessions/{id}/replay", "/api/policy", "/api/policy/validate",
            "/api/leases", "/api/reviews", "/api/reviews/{id}", "/api/reviews/{id}/approve", "/api/reviews/{id}/reject", "/healthz", "/readyz",
        ];
        Assert.True(paths.TryGetProperty("/api/me", out _), "/api/me is missing");
        foreach (string path in expected)
        {
            Assert.True(paths.TryGetProperty(path, out var item), $"{path} is missing from {string.Join(", ", paths.EnumerateObject().Select(p => p.Name))}");
            foreach (var operation in item.EnumerateObject().Where(o => o.Name is "get" or "post" or "put" or "delete"))
            {
                Assert.False(string.IsNullOrEmpty(operation.Value.GetProperty("operationId").GetString()), $"{operation.Name} {path} has no name");
                Assert.False(string.IsNullOrEmpty(operation.Value.GetProperty("summary").GetString()), $"{operation.Name} {path} has no summary");
            }
        }

        Assert.True(paths.GetProperty("/api/sessions/{id}").TryGetProperty("delete", out _));
        Assert.True(paths.GetProperty("/api/policy").TryGetProperty("put", out _));
        var list = paths.GetProperty("/api/sessions").GetProperty("get");
        Assert.Contains("before", list.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        Assert.True(document.GetProperty("components").GetProperty("schemas").GetProperty("SessionItem").GetProperty("properties").TryGetProperty("client_address", out _));
        Assert.DoesNotContain(paths.EnumerateObject(), p => !p.Name.StartsWith("/api/", StringComparison.Ordinal) && p.Name is not ("/healthz" or "/readyz" or "/metrics"));
    }
}
