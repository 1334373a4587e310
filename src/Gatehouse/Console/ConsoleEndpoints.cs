using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

// Not Gatehouse.Console: that namespace would shadow System.Console in every Gatehouse.* file.
namespace Gatehouse.WebConsole;

/// <summary>
/// The web console: static files embedded in this assembly (src/Gatehouse/Console/wwwroot, no build step), served at
/// <c>/</c> (index.html) and <c>/assets/{file}</c>, and the security headers every admin-listener response carries.
/// </summary>
internal static class ConsoleEndpoints
{
    public const string ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    private const string ResourcePrefix = "console/";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
    }.ToFrozenDictionary();

    private sealed record Asset(byte[] Body, string ContentType, string ETag);

    /// <summary>Adds the security headers to the whole listener and maps the console's files.</summary>
    public static void Map(WebApplication app)
    {
        app.Use(static (http, next) =>
        {
            var headers = http.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = "DENY";
            return next(http);
        });

        var assets = Load();
        var index = assets["index.html"];
        app.MapMethods("/", ["GET", "HEAD"], (HttpContext http) => Serve(http, index, "no-store"));
        app.MapMethods("/assets/{file}", ["GET", "HEAD"], (HttpContext http, string file) =>
            file != "index.html" && assets.TryGetValue(file, out var asset)
                ? Serve(http, asset, "no-cache")
                : Results.NotFound());
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(ConsoleEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (string name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            string file = name[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(Path.GetExtension(file), out var contentType))
            {
                continue;
            }

            byte[] body = Read(assembly, name);
            assets[file] = new Asset(body, contentType, $"\"{Convert.ToHexStringLower(SHA256.HashData(body))[..32]}\"");
        }

        return assets.ContainsKey("index.html")
            ? assets.ToFrozenDictionary(StringComparer.Ordinal)
            : throw new InvalidOperationException("the console's index.html is not embedded in the gatehouse assembly");
    }

    private static byte[] Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static IResult Serve(HttpContext http, Asset asset, string cacheControl)
    {
        var headers = http.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = cacheControl;
        if (http.Request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(tag => tag.Trim() == asset.ETag || tag.Trim() == "*")))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Body, asset.ContentType);
    }
}
