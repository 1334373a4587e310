using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Gatehouse.IntegrationTests;

/// <summary>A gateway with the admin roles configured: admins and auditors (config admin:), approvers (policy reviews:).</summary>
public sealed class AdminGatewayFixture : TestGateway, IAsyncLifetime
{
    public const string Policy = """
        identities:
          coding-agents: { claims: { groups: ai-agents } }
          dba-reviewers: { claims: { roles: dba } }
          gatehouse-admins: { claims: { roles: gatehouse-admin } }
          gatehouse-auditors: { claims: { roles: auditor } }
        grants:
          - to: coding-agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
              - { id: payments-readonly, when: { class: write, tables: ["public.payments"] }, then: deny }
        reviews: { approvers: dba-reviewers, mode: hold, timeout: 30s }
        """;

    public const string AdminConfig = "admin:\n  identities: gatehouse-admins\n  auditors: gatehouse-auditors\n  allowed_hosts: [gatehouse.test, \"*.ops.test\"]\n";

    public Task InitializeAsync() => InitializeAsync(new TestGatewayOptions { Policy = Policy, ExtraConfig = AdminConfig });

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}

/// <summary>The admin API as its clients use it: real HTTP, bearer tokens of each role.</summary>
internal static class AdminHttp
{
    public enum Role { None, Agent, Approver, Auditor, Admin }

    public static readonly Role[] AllRoles = [Role.None, Role.Agent, Role.Approver, Role.Auditor, Role.Admin];

    public static string? Token(TestGateway gateway, Role role, string? subject = null) => role switch
    {
        Role.None => null,
        Role.Agent => gateway.Token(subject ?? "agent-1"),
        Role.Approver => gateway.Token(subject ?? "dba-1", ("roles", "dba")),
        Role.Auditor => gateway.Token(subject ?? "auditor-1", ("roles", "auditor")),
        _ => gateway.Token(subject ?? "admin-1", ("roles", "gatehouse-admin")),
    };

    public static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(
        string baseUrl, HttpMethod method, string path, string? token, string? body = null, string contentType = "application/json", IDictionary<string, string>? headers = null)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(method, baseUrl + path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        var json = text.Length > 0 && response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.Ordinal) == true
            ? JsonDocument.Parse(text).RootElement.Clone()
            : JsonDocument.Parse(JsonSerializer.Serialize(text)).RootElement.Clone();
        return (response.StatusCode, json, response);
    }

    public static Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(
        TestGateway gateway, HttpMethod method, string path, string? token, string? body = null, string contentType = "application/json", IDictionary<string, string>? headers = null) =>
        SendAsync(gateway.Gateway.AdminUrl, method, path, token, body, contentType, headers);

    public static async Task<JsonElement> GetAsync(TestGateway gateway, string path, Role role = Role.Admin)
    {
        var (status, body, _) = await SendAsync(gateway, HttpMethod.Get, path, Token(gateway, role));
        Assert.True(status == HttpStatusCode.OK, $"{path}: {(int)status} {body}");
        return body;
    }

    /// <summary>An RFC 9457 problem document with this status and a one-line detail, never a stack trace.</summary>
    public static void AssertProblem(HttpResponseMessage response, JsonElement body, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("title").GetString()));
        Assert.True(body.TryGetProperty("type", out _), body.ToString());
        if (body.TryGetProperty("detail", out var detail))
        {
            Assert.DoesNotContain("\n", detail.GetString()!, StringComparison.Ordinal);
            Assert.DoesNotContain(" at Gatehouse.", body.ToString(), StringComparison.Ordinal);
        }
    }

    /// <summary>Polls until <paramref name="check"/> holds (or fails after <paramref name="seconds"/>).</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T?>> check, double seconds = 15, string what = "condition")
        where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (true)
        {
            if (await check() is { } result)
            {
                return result;
            }

            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class AdminGatewayCollection : ICollectionFixture<AdminGatewayFixture>
{
    public const string Name = "admin-gateway";
}
