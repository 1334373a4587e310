using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Gatehouse.IntegrationTests;

/// <summary>A gateway whose policy sends writes to public.payments to review, and the admin API as reviewers use it.</summary>
internal static class ReviewSupport
{
    public static string Policy(string mode, string timeout, int require = 1, string? webhook = null)
    {
        string notify = webhook is null ? "" : $", notify: {{ webhook: \"{webhook}\" }}";
        return $$"""
        identities:
          agents: { claims: { groups: ai-agents } }
          reviewers: { claims: { roles: dba } }
        grants:
          - to: agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: review }
        reviews: { approvers: reviewers, mode: {{mode}}, timeout: {{timeout}}, require: {{require}}{{notify}} }
        """;
    }

    public static string Reviewer(TestGateway gateway, string subject = "dba-1") => gateway.Token(subject, ("roles", "dba"));

    public static Task<HttpResponseMessage> SendAsync(TestGateway gateway, HttpMethod method, string path, string? token, string? body = null) =>
        SendAsync(gateway.Gateway.AdminUrl, method, path, token, body);

    public static async Task<HttpResponseMessage> SendAsync(string adminUrl, HttpMethod method, string path, string? token, string? body = null)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(method, adminUrl + path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        return await http.SendAsync(request);
    }

    public static Task<HttpStatusCode> DecideAsync(TestGateway gateway, string id, bool approve, string reviewer, string? reason = null) =>
        DecideAsync(gateway.Gateway.AdminUrl, id, approve, reviewer, reason);

    public static async Task<HttpStatusCode> DecideAsync(string adminUrl, string id, bool approve, string reviewer, string? reason = null)
    {
        using var response = await SendAsync(adminUrl, HttpMethod.Post, $"/api/reviews/{id}/{(approve ? "approve" : "reject")}", reviewer, JsonSerializer.Serialize(new { reason }));
        return response.StatusCode;
    }

    public static async Task<JsonElement> ShowAsync(TestGateway gateway, string id)
    {
        using var response = await SendAsync(gateway, HttpMethod.Get, "/api/reviews/" + id, Reviewer(gateway));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.GetProperty("review").Clone();
    }

    /// <summary>Waits for the pending review of the statement with <paramref name="sqlPart"/> (a held statement's request).</summary>
    public static Task<string> PendingAsync(TestGateway gateway, string sqlPart) => PendingAsync(gateway.Gateway.AdminUrl, Reviewer(gateway), sqlPart);

    public static async Task<string> PendingAsync(string adminUrl, string reviewer, string sqlPart)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            if ((await ListAsync(adminUrl, reviewer, "pending", sqlPart)).FirstOrDefault() is { } id)
            {
                return id;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no pending review for {sqlPart}");
            await Task.Delay(50);
        }
    }

    /// <summary>The ids of reviews in <paramref name="status"/> (null: any) whose SQL contains <paramref name="sqlPart"/>, newest first.</summary>
    public static async Task<List<string>> ListAsync(string adminUrl, string reviewer, string? status, string sqlPart)
    {
        using var response = await SendAsync(adminUrl, HttpMethod.Get, "/api/reviews?limit=1000" + (status is null ? "" : "&status=" + status), reviewer);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.EnumerateArray()
            .Where(r => r.GetProperty("sql").GetString()!.Contains(sqlPart, StringComparison.Ordinal))
            .Select(r => r.GetProperty("id").GetString()!).ToList();
    }
}
