using System.Net;
using System.Text;
using System.Text.Json;
using Gatehouse.Hosting;
using Gatehouse.Identity;

namespace Gatehouse.IntegrationTests;

/// <summary>/mcp's bearer check and the protected-resource metadata, over plain HTTP as an MCP client discovers them.</summary>
[Collection(McpCollection.Name)]
public sealed class McpAuthorizationTests(McpFixture fixture)
{
    private const string Initialize = """
        {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
        """;

    private string MetadataUrl => fixture.Gateway.Gateway.AdminUrl + "/.well-known/oauth-protected-resource";

    private async Task<HttpResponseMessage> PostAsync(string? authorization, string? endpoint = null)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint is null ? fixture.Endpoint : new Uri(endpoint)) { Content = new StringContent(Initialize, Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return await http.SendAsync(request);
    }

    [Fact]
    public async Task Without_a_token_the_answer_is_401_pointing_at_the_resource_metadata()
    {
        using var response = await PostAsync(null);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = Assert.Single(response.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.Contains($"resource_metadata=\"{MetadataUrl}\"", challenge.Parameter, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/MCP")]
    [InlineData("/Mcp/")]
    public async Task The_path_in_another_case_needs_the_token_too(string path)
    {
        using var response = await PostAsync(null, fixture.Gateway.Gateway.AdminUrl + path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("Bearer not-a-jwt")]
    [InlineData("Basic YWdlbnQ6c2VjcmV0")]
    [InlineData("Bearer ")]
    public async Task A_bad_token_or_scheme_is_401(string authorization)
    {
        using var response = await PostAsync(authorization);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("resource_metadata=", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_for_another_audience_is_refused_as_on_the_wire()
    {
        var config = fixture.Gateway.Config;
        var issuer = DevIssuer.LoadOrCreate(config.StateDirectory, GatewayHost.DevIssuerUrl(config), TimeProvider.System);
        string token = issuer.Mint("agent-1", [new("groups", "ai-agents")], TimeSpan.FromMinutes(5), "some-other-api");

        using var response = await PostAsync("Bearer " + token);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        string challenge = response.Headers.WwwAuthenticate.ToString();
        Assert.Contains("error=\"invalid_token\"", challenge, StringComparison.Ordinal);
        Assert.Contains("audience", challenge, StringComparison.OrdinalIgnoreCase);

        // The wire door says no to the same token.
        var wire = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => fixture.Gateway.OpenAsync(token, ssl: false));
        Assert.StartsWith("gatehouse: authentication failed:", wire.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_valid_token_is_let_in()
    {
        using var response = await PostAsync("Bearer " + fixture.Gateway.Token());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_protected_resource_metadata_names_the_resource_and_the_issuer()
    {
        using var http = new HttpClient();
        foreach (string url in new[] { MetadataUrl, MetadataUrl + "/mcp" })
        {
            using var document = JsonDocument.Parse(await http.GetStringAsync(url));
            var root = document.RootElement;
            Assert.Equal(fixture.Endpoint.ToString(), root.GetProperty("resource").GetString());
            Assert.Equal([GatewayHost.DevIssuerUrl(fixture.Gateway.Config)], root.GetProperty("authorization_servers").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(["header"], root.GetProperty("bearer_methods_supported").EnumerateArray().Select(e => e.GetString()));
        }
    }
}
