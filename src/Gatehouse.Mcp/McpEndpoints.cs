using System.Text.Json;
using Gatehouse.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gatehouse.Mcp;

/// <summary>
/// The MCP front door on the admin listener: Streamable HTTP at /mcp (stateless: every request carries its token,
/// and every tool call runs as that token), the bearer check in front of it, and the OAuth protected-resource
/// metadata (RFC 9728) that tells MCP clients which issuer to get a token from.
/// </summary>
public static class McpEndpoints
{
    public const string Path = "/mcp";
    public const string MetadataPath = "/.well-known/oauth-protected-resource";

    public static void AddGatehouseMcp(this IServiceCollection services, McpServices mcp)
    {
        services.AddSingleton(mcp);
        services.AddSingleton(_ => mcp.Wire); // made by a factory, so the container disposes it (and its pooled sessions) at shutdown
        services.AddHttpContextAccessor();
        services.AddMcpServer(o => o.ServerInfo = new() { Name = "gatehouse", Version = typeof(McpEndpoints).Assembly.GetName().Version?.ToString() ?? "0" })
            .WithHttpTransport(o => o.Stateless = true)
            .WithTools<GatehouseTools>()
            .WithRequestFilters(filters => filters.AddCallToolFilter(ToolArguments.Filter));
    }

    public static void MapGatehouseMcp(this WebApplication app)
    {
        var mcp = app.Services.GetRequiredService<McpServices>();
        _ = app.Services.GetRequiredService<WireDoor>();
        var authenticator = mcp.Authenticator;
        app.UseWhen(
            // Routing matches paths ignoring case, so the check must too (/MCP reached the tools without a bearer).
            c => c.Request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase),
            branch => branch.Use((context, next) => BearerAuthentication.InvokeAsync(context, next, authenticator, mcp.BaseUrl() + MetadataPath)));
        app.MapMcp(Path);

        // RFC 9728 §3: at the well-known path, and at it with the resource's path appended.
        app.MapGet(MetadataPath, () => Metadata(mcp));
        app.MapGet(MetadataPath + Path, () => Metadata(mcp));
    }

    private static IResult Metadata(McpServices mcp) => Results.Text(JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["resource"] = mcp.BaseUrl() + Path,
        ["authorization_servers"] = mcp.AuthorizationServers,
        ["bearer_methods_supported"] = new[] { "header" },
        ["resource_name"] = "Gatehouse",
    }), "application/json");
}
