using System.Text.Json;
using Gatehouse.Mcp;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Gatehouse.IntegrationTests;

/// <summary>
/// A gateway on the shop schema whose grant masks e-mail, ssn and phone, and denies DDL, file functions and writes
/// to payments: the MCP tests call its /mcp endpoint over real HTTP with the SDK's client.
/// </summary>
public sealed class McpFixture : IAsyncLifetime
{
    public const string Policy = """
        identities:
          coding-agents: { claims: { groups: ai-agents } }
          outsiders: { claims: { groups: outsiders } }
        grants:
          - to: coding-agents
            targets: [shop]
            db_roles: [app_read, app_write]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin] }, then: deny }
              - { id: no-files, when: { functions: ["pg_read_file", "pg_ls_dir", "lo_*", "dblink*"] }, then: deny }
              - { id: payments-readonly, when: { class: write, tables: ["public.payments"] }, then: deny }
            masks:
              - { columns: ["public.customers.email"], with: email }
              - { columns: ["*.ssn", "*.card_number"], with: last4 }
              - { columns: ["public.customers.phone"], with: hash }
        """;

    public TestGateway Gateway { get; private set; } = null!;

    public Uri Endpoint => new(Gateway.Gateway.AdminUrl + McpEndpoints.Path);

    public async Task InitializeAsync() => Gateway = await TestGateway.StartAsync(new TestGatewayOptions { Policy = Policy });

    public async Task DisposeAsync() => await Gateway.DisposeAsync();

    /// <summary>The SDK's MCP client, Streamable HTTP, with the token as bearer.</summary>
    public Task<McpClient> ClientAsync(string? token = null) => ClientAsync(Gateway, token ?? Gateway.Token());

    /// <summary>The SDK's MCP client for any test gateway's /mcp.</summary>
    public static async Task<McpClient> ClientAsync(TestGateway gateway, string token)
    {
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new(gateway.Gateway.AdminUrl + McpEndpoints.Path),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + token },
        });
        return await McpClient.CreateAsync(transport);
    }

    public static async Task<(CallToolResult Result, JsonElement Json)> CallAsync(McpClient client, string tool, Dictionary<string, object?> arguments)
    {
        var result = await client.CallToolAsync(tool, arguments);
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        using var document = JsonDocument.Parse(text);
        return (result, document.RootElement.Clone());
    }

    public static Task<(CallToolResult Result, JsonElement Json)> QueryAsync(McpClient client, string sql, object?[]? parameters = null, int? maxRows = null)
    {
        var arguments = new Dictionary<string, object?> { ["target"] = TestGateway.Target, ["sql"] = sql };
        if (parameters is not null)
        {
            arguments["parameters"] = parameters;
        }

        if (maxRows is not null)
        {
            arguments["max_rows"] = maxRows;
        }

        return CallAsync(client, "query", arguments);
    }

    /// <summary>The first result set's rows, as text values (null for SQL NULL).</summary>
    public static List<string?[]> Rows(JsonElement json) =>
    [
        .. json.GetProperty("results")[0].GetProperty("data").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? null : v.GetString()).ToArray()),
    ];
}

[CollectionDefinition(Name)]
public sealed class McpCollection : ICollectionFixture<McpFixture>
{
    public const string Name = "mcp";
}
