using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Gatehouse.Mcp;

/// <summary>
/// <c>gatehouse mcp --server URL</c>: a stdio MCP server for clients that only launch local servers. It answers
/// tools/list and tools/call by asking the gateway's /mcp endpoint with the SDK's client, as the identity of the
/// bearer token it was given; it decides nothing itself.
/// </summary>
public static class StdioBridge
{
    public static async Task<int> RunAsync(Uri server, string token, TextWriter errors, CancellationToken ct)
    {
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = server,
            Name = "gatehouse",
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + token },
        });
        McpClient client;
        try
        {
            client = await McpClient.CreateAsync(transport, cancellationToken: ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or McpException or IOException or TimeoutException or InvalidOperationException)
        {
            // A refused token is the usual cause: say so in one line instead of the HTTP client's text with the response body.
            string why = ex is HttpRequestException { StatusCode: System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden } refused
                ? $"the token was refused ({(int)refused.StatusCode!} {refused.StatusCode}): it is missing, expired, for another audience, or its identity has no grant"
                : ex.Message.ReplaceLineEndings(" ");
            await errors.WriteLineAsync($"gatehouse: cannot open the MCP endpoint {server}: {why}");
            return 1;
        }

        await using (client)
        {
            var input = new DrainingInput(Console.OpenStandardInput(), new HashSet<string>(StringComparer.Ordinal) { "tools/list", "tools/call" }, ct);
            var options = new McpServerOptions
            {
                ServerInfo = new Implementation { Name = "gatehouse", Version = typeof(StdioBridge).Assembly.GetName().Version?.ToString() ?? "0" },
                Capabilities = new ServerCapabilities { Tools = new ToolsCapability() },
                Handlers = new McpServerHandlers
                {
                    ListToolsHandler = async (request, c) =>
                    {
                        using var running = input.Enter();
                        return await client.ListToolsAsync(request.Params ?? new ListToolsRequestParams(), c);
                    },
                    CallToolHandler = async (request, c) =>
                    {
                        using var running = input.Enter();
                        return await client.CallToolAsync(request.Params!, c);
                    },
                },
            };
            // End of input waits for the answers still coming (DrainingInput); the SDK's stdio transport would cancel them.
            await using var stdio = McpServer.Create(new StreamServerTransport(input, Console.OpenStandardOutput(), "gatehouse"), options);
            try
            {
                await stdio.RunAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Ctrl-C or the client closed stdin.
            }
        }

        return 0;
    }
}
