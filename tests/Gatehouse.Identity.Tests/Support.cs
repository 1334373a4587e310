using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;

namespace Gatehouse.Identity.Tests;

/// <summary>A clock that moves only when told to.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public ManualTimeProvider()
        : this(new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}

/// <summary>An RSA or EC signing key with a kid, able to appear in a JWKS.</summary>
internal sealed class TestKey
{
    private TestKey(string keyId, RSA? rsa, ECDsa? ec)
    {
        KeyId = keyId;
        Rsa = rsa;
        Ec = ec;
    }

    public string KeyId { get; }
    public RSA? Rsa { get; }
    public ECDsa? Ec { get; }

    public static TestKey NewRsa(string keyId) => new(keyId, RSA.Create(2048), null);

    public static TestKey NewEc(string keyId) => new(keyId, null, ECDsa.Create(ECCurve.NamedCurves.nistP256));

    public JsonObject Jwk()
    {
        if (Rsa is not null)
        {
            var p = Rsa.ExportParameters(false);
            return new JsonObject { ["kty"] = "RSA", ["n"] = Base64UrlEncoder.Encode(p.Modulus), ["e"] = Base64UrlEncoder.Encode(p.Exponent), ["kid"] = KeyId, ["use"] = "sig" };
        }

        var q = Ec!.ExportParameters(false).Q;
        return new JsonObject { ["kty"] = "EC", ["crv"] = "P-256", ["x"] = Base64UrlEncoder.Encode(q.X), ["y"] = Base64UrlEncoder.Encode(q.Y), ["kid"] = KeyId, ["use"] = "sig" };
    }
}

/// <summary>Builds JWTs by hand, so tests can make every kind of bad token.</summary>
internal static class Jwt
{
    public static JsonObject Payload(string issuer, DateTimeOffset now, string subject = "agent-1", string audience = "gatehouse", TimeSpan? lifetime = null) => new()
    {
        ["iss"] = issuer,
        ["sub"] = subject,
        ["aud"] = audience,
        ["iat"] = now.ToUnixTimeSeconds(),
        ["nbf"] = now.ToUnixTimeSeconds(),
        ["exp"] = (now + (lifetime ?? TimeSpan.FromMinutes(10))).ToUnixTimeSeconds(),
        ["groups"] = new JsonArray("ai-agents"),
    };

    public static string Sign(TestKey key, JsonObject payload, string? algorithm = null, string? keyId = null, bool includeKeyId = true)
    {
        algorithm ??= key.Rsa is not null ? "RS256" : "ES256";
        var header = new JsonObject { ["alg"] = algorithm, ["typ"] = "JWT" };
        if (includeKeyId)
        {
            header["kid"] = keyId ?? key.KeyId;
        }

        return SignRaw(key, header.ToJsonString(), payload.ToJsonString(), algorithm);
    }

    /// <summary>Signs header and payload JSON exactly as given: for shapes a JSON object model cannot hold (a repeated name).</summary>
    public static string SignRaw(TestKey key, string headerJson, string payloadJson, string? algorithm = null)
    {
        algorithm ??= key.Rsa is not null ? "RS256" : "ES256";
        string input = EncodeText(headerJson) + "." + EncodeText(payloadJson);
        byte[] data = Encoding.ASCII.GetBytes(input);
        byte[] signature = algorithm switch
        {
            "RS256" => key.Rsa!.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            "RS384" => key.Rsa!.SignData(data, HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1),
            "PS256" => key.Rsa!.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
            "ES256" => key.Ec!.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
        };
        return input + "." + Base64UrlEncoder.Encode(signature);
    }

    /// <summary>The classic key-confusion forgery: HS256 with the issuer's public key as the HMAC secret.</summary>
    public static string SignHs256WithPublicKey(TestKey key, JsonObject payload)
    {
        var header = new JsonObject { ["alg"] = "HS256", ["typ"] = "JWT", ["kid"] = key.KeyId };
        string input = Encode(header) + "." + Encode(payload);
        byte[] secret = Encoding.ASCII.GetBytes(key.Rsa!.ExportSubjectPublicKeyInfoPem());
        return input + "." + Base64UrlEncoder.Encode(HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(input)));
    }

    public static string Unsigned(JsonObject payload) =>
        Encode(new JsonObject { ["alg"] = "none", ["typ"] = "JWT" }) + "." + Encode(payload) + ".";

    public static string Encode(JsonNode node) => EncodeText(node.ToJsonString());

    public static string EncodeText(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));

    public static JsonObject DecodePayload(string token) =>
        JsonNode.Parse(Base64UrlEncoder.DecodeBytes(token.Split('.')[1]))!.AsObject();

    public static JsonObject DecodeHeader(string token) =>
        JsonNode.Parse(Base64UrlEncoder.DecodeBytes(token.Split('.')[0]))!.AsObject();
}

/// <summary>
/// A minimal OpenID issuer on loopback (HttpListener): discovery + a JWKS whose keys tests can rotate,
/// counting requests to each.
/// </summary>
internal sealed class JwksServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private volatile TestKey[] _keys;
    private int _discoveryRequests;
    private int _jwksRequests;

    public JwksServer(params TestKey[] keys)
    {
        _keys = keys;
        for (int attempt = 0; ; attempt++)
        {
            int port = FreePort();
            Issuer = $"http://127.0.0.1:{port}/realms/test";
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }

        _loop = Task.Run(ServeAsync);
    }

    public string Issuer { get; private set; }

    public int DiscoveryRequests => Volatile.Read(ref _discoveryRequests);

    public int JwksRequests => Volatile.Read(ref _jwksRequests);

    /// <summary>Answer every request with 500 while true (503 would be retried once by HttpDocumentRetriever).</summary>
    public bool Unavailable { get; set; }

    /// <summary>Holds JWKS answers until released, to make concurrent refreshes overlap.</summary>
    public TaskCompletionSource? JwksGate { get; set; }

    public void Publish(params TestKey[] keys) => _keys = keys;

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        string path = context.Request.Url!.AbsolutePath;
        string? body = null;
        if (Unavailable)
        {
            Interlocked.Increment(ref path.EndsWith("/keys", StringComparison.Ordinal) ? ref _jwksRequests : ref _discoveryRequests);
            context.Response.StatusCode = 500;
            context.Response.Close();
            return;
        }

        if (path == "/realms/test/.well-known/openid-configuration")
        {
            Interlocked.Increment(ref _discoveryRequests);
            body = new JsonObject { ["issuer"] = Issuer, ["jwks_uri"] = Issuer + "/keys" }.ToJsonString();
        }
        else if (path == "/realms/test/keys")
        {
            Interlocked.Increment(ref _jwksRequests);
            if (JwksGate is { } gate)
            {
                await gate.Task;
            }

            var keys = new JsonArray([.. _keys.Select(k => (JsonNode)k.Jwk())]);
            body = new JsonObject { ["keys"] = keys }.ToJsonString();
        }

        context.Response.StatusCode = body is null ? 404 : 200;
        context.Response.ContentType = "application/json";
        byte[] bytes = Encoding.UTF8.GetBytes(body ?? "{}");
        await context.Response.OutputStream.WriteAsync(bytes);
        context.Response.Close();
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

internal static class Hashing
{
    public static string Sha256Hex(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public static JsonElement Claim(this ValidatedIdentity identity, string name) => identity.Claims.GetProperty(name);
}
