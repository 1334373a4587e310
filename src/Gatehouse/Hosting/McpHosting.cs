using Gatehouse.Configuration;
using Gatehouse.Mcp;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Policy;
using Gatehouse.Proxy;

namespace Gatehouse.Hosting;

/// <summary>
/// Wires the MCP front door: the wire door's private Unix socket (sessions marked Mcp) and /mcp on the admin
/// listener, whose tools log in through that socket with the caller's token (docs/design/mcp-front-door.md).
/// </summary>
internal sealed class McpHosting
{
    private WebApplication? _app;

    /// <summary>Where the socket lives: a directory of the state directory, never chosen by an agent.</summary>
    public static string SocketDirectory(GatewayConfig config) => Path.Combine(config.StateDirectory, "mcp");

    public static McpHosting Add(
        WebApplicationBuilder builder, GatewayConfig config, ProxyServices services, PolicyStore policy, IReadOnlyDictionary<string, RelationCatalog> catalogs,
        Gatehouse.Reviews.ReviewService reviews)
    {
        var socket = new UnixSocketListener(services, SocketDirectory(config));
        builder.Services.AddSingleton<IHostedService>(socket);
        var hosting = new McpHosting();
        var issuers = new List<string>();
        if (config.Identity.Issuer is { } issuer)
        {
            issuers.Add(issuer);
        }

        if (config.Identity.DevIssuer)
        {
            issuers.Add(GatewayHost.DevIssuerUrl(config));
        }

        builder.Services.AddGatehouseMcp(new McpServices
        {
            Authenticator = services.Authenticator,
            Policy = policy,
            Targets = [.. config.Targets.Keys],
            Catalogs = catalogs,
            Wire = new WireDoor(socket.Directory, UnixSocketListener.Port, config.Mcp, services.Time),
            Limits = config.Mcp,
            Reviews = reviews,
            Time = services.Time,
            AuthorizationServers = issuers,
            BaseUrl = () => hosting._app?.Urls.FirstOrDefault() ?? $"http://{config.AdminListen}",
        });
        return hosting;
    }

    public void Map(WebApplication app)
    {
        _app = app;
        app.MapGatehouseMcp();
    }
}
