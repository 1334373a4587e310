using System.CommandLine;
using Gatehouse.Mcp;

namespace Gatehouse.Commands;

/// <summary><c>gatehouse mcp --server URL [--token T]</c>: the stdio bridge to a gateway's /mcp endpoint.</summary>
internal static class McpCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "the gateway's MCP endpoint, e.g. http://127.0.0.1:8080/mcp", Required = true };
        var token = new Option<string>("--token") { Description = "the bearer token (default: GATEHOUSE_TOKEN)" };
        var command = new Command("mcp", "Serve MCP on stdin/stdout, forwarding tools/list and tools/call to a gateway's /mcp endpoint.") { server, token };
        command.SetAction(async (parse, ct) =>
        {
            string text = parse.GetValue(server)!;
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                await Console.Error.WriteLineAsync($"gatehouse: mcp: --server must be an http(s) URL such as http://127.0.0.1:8080/mcp, got \"{text}\"");
                return CommandSupport.ExitUsage;
            }

            string? bearer = parse.GetValue(token) ?? Environment.GetEnvironmentVariable("GATEHOUSE_TOKEN");
            if (string.IsNullOrWhiteSpace(bearer))
            {
                await Console.Error.WriteLineAsync("gatehouse: mcp: no token: pass --token or set GATEHOUSE_TOKEN");
                return CommandSupport.ExitUsage;
            }

            return await StdioBridge.RunAsync(uri, bearer.Trim(), Console.Error, ct);
        });
        return command;
    }
}
