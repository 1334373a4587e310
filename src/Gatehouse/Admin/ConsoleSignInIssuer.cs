using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gatehouse.Identity;

namespace Gatehouse.Admin;

/// <summary>What the token endpoint answered: tokens, or why not in words fit for the user (never a token).</summary>
internal sealed record CodeExchange(string? AccessToken, string? IdToken, string? Error, bool IssuerUnreachable = false)
{
    public static CodeExchange Fail(string error, bool unreachable = false) => new(null, null, error, unreachable);
}

/// <summary>Where the console sends a browser to sign in, and where it trades the code for tokens.</summary>
internal interface IConsoleIssuer
{
    /// <summary>The <c>iss</c> the id_token must carry.</summary>
    string Issuer { get; }

    string ClientId { get; }

    /// <summary>The authorization endpoint; null with a reason when it cannot be found.</summary>
    ValueTask<(string? Endpoint, string? Error)> AuthorizationEndpointAsync(CancellationToken ct);

    ValueTask<CodeExchange> ExchangeAsync(string code, string verifier, string redirectUri, CancellationToken ct);
}

/// <summary>The dev issuer, in this process: the same exchange as its /dev-issuer/token endpoint, without a loopback HTTP call.</summary>
internal sealed class DevConsoleIssuer(DevIssuer issuer, DevIssuerLogin login) : IConsoleIssuer
{
    public string Issuer => issuer.IssuerUrl;

    public string ClientId => DevIssuerLogin.ConsoleClientId;

    public ValueTask<(string? Endpoint, string? Error)> AuthorizationEndpointAsync(CancellationToken ct) => ValueTask.FromResult<(string?, string?)>((login.AuthorizationEndpoint, null));

    public ValueTask<CodeExchange> ExchangeAsync(string code, string verifier, string redirectUri, CancellationToken ct)
    {
        var result = login.Exchange("authorization_code", code, redirectUri, ClientId, verifier);
        return ValueTask.FromResult(result.Error is null
            ? new CodeExchange(result.AccessToken, result.IdToken, null)
            : CodeExchange.Fail($"{result.Error} ({result.ErrorDescription})"));
    }
}

/// <summary>
/// <c>identity.issuer</c>: its endpoints from the discovery document (cached for an hour), the code exchanged at its
/// token endpoint with the client secret (HTTP Basic unless the issuer lists only client_secret_post) and the PKCE verifier.
/// </summary>
internal sealed class ExternalConsoleIssuer(string issuer, string clientId, string? clientSecret, HttpClient http, TimeProvider time) : IConsoleIssuer
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromHours(1);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private Endpoints? _endpoints;

    public string Issuer { get; } = issuer.TrimEnd('/');

    public string ClientId => clientId;

    public async ValueTask<(string? Endpoint, string? Error)> AuthorizationEndpointAsync(CancellationToken ct)
    {
        var (endpoints, error) = await DiscoverAsync(ct);
        return (endpoints?.Authorization, error);
    }

    public async ValueTask<CodeExchange> ExchangeAsync(string code, string verifier, string redirectUri, CancellationToken ct)
    {
        var (endpoints, error) = await DiscoverAsync(ct);
        if (endpoints is null)
        {
            return CodeExchange.Fail(error!, unreachable: true);
        }

        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["redirect_uri"] = redirectUri,
            ["code_verifier"] = verifier,
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoints.Token);
        if (clientSecret is null)
        {
            form["client_id"] = clientId;
        }
        else if (endpoints.SecretInBody)
        {
            form["client_id"] = clientId;
            form["client_secret"] = clientSecret;
        }
        else
        {
            // RFC 6749 §2.3.1: both parts form-urlencoded before Base64.
            string credentials = Uri.EscapeDataString(clientId) + ":" + Uri.EscapeDataString(clientSecret);
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        }

        request.Content = new FormUrlEncodedContent(form);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await http.SendAsync(request, timeout.Token);
            string body = await response.Content.ReadAsStringAsync(timeout.Token);
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            if (!response.IsSuccessStatusCode || root.TryGetProperty("error", out _))
            {
                string oauthError = Text(root, "error") ?? $"HTTP {(int)response.StatusCode}";
                return CodeExchange.Fail(Text(root, "error_description") is { } description ? $"{oauthError} ({description})" : oauthError);
            }

            return new CodeExchange(Text(root, "access_token"), Text(root, "id_token"), null);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return CodeExchange.Fail(ex is JsonException ? "the token endpoint did not answer JSON" : "the token endpoint could not be reached", unreachable: ex is not JsonException);
        }
    }

    private async ValueTask<(Endpoints? Endpoints, string? Error)> DiscoverAsync(CancellationToken ct)
    {
        if (_endpoints is { } cached && time.GetUtcNow() - cached.Fetched < CacheFor)
        {
            return (cached, null);
        }

        await _gate.WaitAsync(ct);
        try
        {
            if (_endpoints is { } again && time.GetUtcNow() - again.Fetched < CacheFor)
            {
                return (again, null);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await http.GetAsync(Issuer + "/.well-known/openid-configuration", timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                return (null, $"the issuer's discovery document answered HTTP {(int)response.StatusCode}");
            }

            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(timeout.Token));
            var root = json.RootElement;
            if (Text(root, "issuer")?.TrimEnd('/') != Issuer)
            {
                return (null, "the issuer's discovery document names a different issuer");
            }

            if (Endpoint(root, "authorization_endpoint") is not { } authorization || Endpoint(root, "token_endpoint") is not { } token)
            {
                return (null, "the issuer's discovery document lacks an https authorization_endpoint or token_endpoint");
            }

            bool inBody = root.TryGetProperty("token_endpoint_auth_methods_supported", out var methods) && methods.ValueKind == JsonValueKind.Array
                && methods.EnumerateArray().All(m => m.GetString() != "client_secret_basic")
                && methods.EnumerateArray().Any(m => m.GetString() == "client_secret_post");
            _endpoints = new Endpoints(authorization, token, inBody, time.GetUtcNow());
            return (_endpoints, null);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return (null, ex is JsonException ? "the issuer's discovery document is not JSON" : "the issuer's discovery document could not be fetched");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>An endpoint URL: https, or http on a loopback issuer (as the token validator allows).</summary>
    private static string? Endpoint(JsonElement root, string name) =>
        Text(root, name) is { } text && Uri.TryCreate(text, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback))
            ? text
            : null;

    private static string? Text(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private sealed record Endpoints(string Authorization, string Token, bool SecretInBody, DateTimeOffset Fetched);
}
