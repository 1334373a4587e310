using ModelContextProtocol.Client;

namespace Gatehouse.IntegrationTests;

/// <summary><c>gatehouse mcp</c>: the stdio bridge, launched as MCP clients launch local servers, forwarding to /mcp.</summary>
[Collection(McpCollection.Name)]
public sealed class McpBridgeTests(McpFixture fixture)
{
    [Fact]
    public async Task The_bridge_forwards_tools_list_and_tools_call_as_the_token()
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "gatehouse",
            Command = GatewayProcess.Executable,
            Arguments = ["mcp", "--server", fixture.Endpoint.ToString()],
            EnvironmentVariables = new Dictionary<string, string?> { ["GATEHOUSE_TOKEN"] = fixture.Gateway.Token("bridged-agent") },
        });
        await using var client = await McpClient.CreateAsync(transport);
        var tools = await client.ListToolsAsync();
        Assert.Contains(tools, t => t.Name == "query");

        var (result, json) = await McpFixture.QueryAsync(client, "SELECT email FROM customers WHERE id = 4");
        Assert.False(result.IsError, json.ToString());
        string? email = Assert.Single(McpFixture.Rows(json))[0];
        Assert.NotEqual("customer4@example.com", email);
        Assert.EndsWith("@example.com", email, StringComparison.Ordinal);

        var (denied, error) = await McpFixture.QueryAsync(client, "DROP TABLE orders");
        Assert.True(denied.IsError);
        Assert.StartsWith("gatehouse: denied by rule no-ddl", error.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a url", "--server must be an http(s) URL")]
    [InlineData("http://127.0.0.1:1/mcp", "no token")]
    public async Task Bad_usage_is_one_line_and_exit_2(string server, string expected)
    {
        var result = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["mcp", "--server", server], new Dictionary<string, string> { ["GATEHOUSE_TOKEN"] = "" });
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task A_refused_token_is_one_line_and_exit_1()
    {
        var result = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["mcp", "--server", fixture.Endpoint.ToString(), "--token", "not-a-jwt"], timeout: TimeSpan.FromSeconds(60), stdin: "");
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("gatehouse: cannot open the MCP endpoint", result.Stderr.Trim(), StringComparison.Ordinal);
        Assert.Contains("the token was refused (401 Unauthorized)", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Response status code", result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task Requests_piped_to_the_bridge_are_answered_before_it_exits_at_end_of_input()
    {
        // printf '…' | gatehouse mcp: the SDK ended at end of input and cancelled the calls still running, so the
        // process exited without their replies.
        string target = TestGateway.Target;
        string input = string.Join('\n',
            """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"pipe","version":"1"}}}""",
            """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
            """{"jsonrpc":"2.0","id":2,"method":"tools/list"}""",
            """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"query","arguments":{"target":"TARGET","sql":"SELECT pg_sleep(0.5), 'piped-marker' AS m"}}}""".Replace("TARGET", target, StringComparison.Ordinal)) + "\n";
        var result = await ProcessRunner.RunAsync(GatewayProcess.Executable, ["mcp", "--server", fixture.Endpoint.ToString()],
            new Dictionary<string, string> { ["GATEHOUSE_TOKEN"] = fixture.Gateway.Token("piped-agent") }, timeout: TimeSpan.FromSeconds(60), stdin: input);
        Assert.True(result.ExitCode == 0, result.Stderr);
        var ids = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Where(m => m.TryGetProperty("id", out _)).Select(m => m.GetProperty("id").GetInt32()).ToList();
        Assert.Equal([1, 2, 3], ids.Order());
        Assert.Contains("piped-marker", result.Stdout, StringComparison.Ordinal);
    }
}
