using System.Text;
using System.Text.Json;
using Gatehouse.Pipeline;
using Microsoft.AspNetCore.Http;

namespace Gatehouse.Mcp;

/// <summary>
/// The /mcp endpoint's authorization (MCP authorization, RFC 6750/9728): a bearer OIDC access token checked by the
/// same <see cref="IAuthenticator"/> the wire door uses, so audience, issuer, expiry and claim rules are one code path.
/// Missing or refused tokens get 401 with <c>WWW-Authenticate: Bearer resource_metadata="…"</c>.
/// </summary>
internal static class BearerAuthentication
{
    public const string CallerKey = "gatehouse.mcp.caller";

    public static async Task InvokeAsync(HttpContext context, RequestDelegate next, IAuthenticator authenticator, string metadataUrl)
    {
        string? header = context.Request.Headers.Authorization;
        string? token = header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
        if (string.IsNullOrEmpty(token))
        {
            await ChallengeAsync(context, metadataUrl, error: null, "a bearer token is required (Authorization: Bearer <OIDC access token>)");
            return;
        }

        var result = await authenticator.AuthenticateAsync(token, context.RequestAborted);
        if (result.Principal is null)
        {
            await ChallengeAsync(context, metadataUrl, "invalid_token", "gatehouse: authentication failed: " + result.Reason);
            return;
        }

        context.Items[CallerKey] = new McpCaller(result.Principal, token, context.Connection.RemoteIpAddress);
        await next(context);
    }

    public static McpCaller? Caller(HttpContext? context) => context?.Items[CallerKey] as McpCaller;

    private static async Task ChallengeAsync(HttpContext context, string metadataUrl, string? error, string description)
    {
        var challenge = new StringBuilder($"Bearer resource_metadata=\"{metadataUrl}\"");
        if (error is not null)
        {
            // RFC 6750 §3: error_description is printable ASCII without quote or backslash.
            string safe = new([.. description.Select(c => c is >= ' ' and <= '~' and not '"' and not '\\' ? c : ' ')]);
            challenge.Append($", error=\"{error}\", error_description=\"{safe}\"");
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = challenge.ToString();
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["error"] = error ?? "unauthorized",
            ["error_description"] = description,
        }), context.RequestAborted);
    }
}
