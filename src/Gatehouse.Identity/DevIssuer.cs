using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace Gatehouse.Identity;

/// <summary>
/// The development issuer: one EC P-256 key (ES256) persisted in the state directory, so that
/// `gatehouse token --dev` (one process) mints tokens that the gateway (another process) accepts.
/// Serves discovery and a JWKS (see <see cref="DevIssuerEndpoints"/>); the gateway itself verifies
/// with the in-process key and never fetches them.
/// </summary>
public sealed class DevIssuer
{
    /// <summary>File name of the PKCS#8 PEM private key inside the state directory (mode 0600).</summary>
    public const string KeyFileName = "dev-issuer-key.pem";

    public const string Algorithm = SecurityAlgorithms.EcdsaSha256;

    private static readonly HashSet<string> RegisteredClaims = new(StringComparer.Ordinal) { "iss", "sub", "aud", "iat", "nbf", "exp", "jti" };

    private readonly ECDsa _signingKey;
    private readonly Lock _signLock = new();
    private readonly TimeProvider _time;
    private readonly string _headerSegment;
    private readonly string _discoveryJson;
    private readonly string _jwksJson;

    private DevIssuer(ECDsa signingKey, string issuerUrl, string keyPath, TimeProvider time)
    {
        _signingKey = signingKey;
        _time = time;
        IssuerUrl = issuerUrl;
        KeyPath = keyPath;

        var publicParameters = signingKey.ExportParameters(includePrivateParameters: false);
        string x = Base64UrlEncoder.Encode(publicParameters.Q.X);
        string y = Base64UrlEncoder.Encode(publicParameters.Q.Y);
        // RFC 7638 thumbprint: the required members in lexicographic order, no whitespace.
        KeyId = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes($$"""{"crv":"P-256","kty":"EC","x":"{{x}}","y":"{{y}}"}""")));
        ValidationKey = new ECDsaSecurityKey(ECDsa.Create(publicParameters)) { KeyId = KeyId };

        _headerSegment = Base64UrlEncoder.Encode(Json(w =>
        {
            w.WriteString("alg", Algorithm);
            w.WriteString("typ", "JWT");
            w.WriteString("kid", KeyId);
        }));
        _jwksJson = Json(w =>
        {
            w.WriteStartArray("keys");
            w.WriteStartObject();
            w.WriteString("kty", "EC");
            w.WriteString("crv", "P-256");
            w.WriteString("x", x);
            w.WriteString("y", y);
            w.WriteString("kid", KeyId);
            w.WriteString("use", "sig");
            w.WriteString("alg", Algorithm);
            w.WriteEndObject();
            w.WriteEndArray();
        });
        _discoveryJson = Json(w =>
        {
            w.WriteString("issuer", IssuerUrl);
            w.WriteString("jwks_uri", IssuerUrl + "/jwks");
            // The console's sign-in (DevIssuerLogin): authorization code + PKCE for configured dev logins only.
            w.WriteString("authorization_endpoint", IssuerUrl + "/authorize");
            w.WriteString("token_endpoint", IssuerUrl + "/token");
            WriteArray(w, "response_types_supported", "code");
            WriteArray(w, "grant_types_supported", "authorization_code");
            WriteArray(w, "code_challenge_methods_supported", "S256");
            WriteArray(w, "token_endpoint_auth_methods_supported", "none");
            WriteArray(w, "scopes_supported", "openid");
            WriteArray(w, "subject_types_supported", "public");
            WriteArray(w, "id_token_signing_alg_values_supported", Algorithm);
            WriteArray(w, "claims_supported", "iss", "sub", "aud", "iat", "nbf", "exp", "jti", "nonce");
        });
    }

    /// <summary>Exactly <c>http://{listen.admin}/dev-issuer</c>; the <c>iss</c> of every token minted here.</summary>
    public string IssuerUrl { get; }

    /// <summary>The JWK thumbprint of the public key; the <c>kid</c> of every token minted here.</summary>
    public string KeyId { get; }

    public string KeyPath { get; }

    /// <summary>The public key, for in-process validation.</summary>
    internal SecurityKey ValidationKey { get; }

    /// <summary>
    /// Loads the key from <paramref name="stateDirectory"/>, or creates it there: written to a temporary
    /// file with mode 0600, then linked into place atomically, so concurrent processes agree on one key.
    /// Refuses a key file that group or others can read.
    /// </summary>
    public static DevIssuer LoadOrCreate(string stateDirectory, string issuerUrl, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        ArgumentException.ThrowIfNullOrEmpty(issuerUrl);
        ArgumentNullException.ThrowIfNull(time);
        issuerUrl = issuerUrl.TrimEnd('/');
        if (!Uri.TryCreate(issuerUrl, UriKind.Absolute, out _))
        {
            throw new ArgumentException($"dev issuer URL '{issuerUrl}' is not an absolute URL", nameof(issuerUrl));
        }

        if (!Directory.Exists(stateDirectory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(stateDirectory);
            }
            else
            {
                Directory.CreateDirectory(stateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        string path = Path.GetFullPath(Path.Combine(stateDirectory, KeyFileName));
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (TryPublish(path, key.ExportPkcs8PrivateKeyPem()))
        {
            return new DevIssuer(key, issuerUrl, path, time);
        }

        key.Dispose();
        return new DevIssuer(LoadWhenComplete(path), issuerUrl, path, time);
    }

    /// <summary>Another process may still be writing the key it created: an incomplete file is read again.</summary>
    private static ECDsa LoadWhenComplete(string path)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return Load(path);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException && attempt < 50 && File.GetLastWriteTimeUtc(path) > DateTime.UtcNow.AddSeconds(-5))
            {
                Thread.Sleep(20);
            }
        }
    }

    /// <summary>
    /// Mints a signed ES256 access token. <paramref name="claims"/> are taken literally as strings (a comma
    /// is not a separator); a key given more than once becomes a JSON array in the given order.
    /// </summary>
    /// <exception cref="ArgumentException">A claim key is empty or names a registered claim (iss, sub, aud, iat, nbf, exp, jti).</exception>
    public string Mint(string subject, IReadOnlyList<KeyValuePair<string, string>> claims, TimeSpan ttl, string audience)
    {
        ArgumentException.ThrowIfNullOrEmpty(subject);
        ArgumentNullException.ThrowIfNull(claims);
        ArgumentException.ThrowIfNullOrEmpty(audience);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);

        var grouped = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (key, value) in claims)
        {
            if (string.IsNullOrEmpty(key))
            {
                throw new ArgumentException("a claim needs a non-empty name", nameof(claims));
            }

            if (RegisteredClaims.Contains(key))
            {
                throw new ArgumentException($"claim '{key}' is set by the issuer and cannot be given", nameof(claims));
            }

            if (!grouped.TryGetValue(key, out var values))
            {
                grouped[key] = values = [];
                order.Add(key);
            }

            values.Add(value ?? string.Empty);
        }

        long now = _time.GetUtcNow().ToUnixTimeSeconds();
        long expires = now + Math.Max(1L, (long)Math.Ceiling(ttl.TotalSeconds));
        string payload = Base64UrlEncoder.Encode(Json(w =>
        {
            w.WriteString("iss", IssuerUrl);
            w.WriteString("sub", subject);
            w.WriteString("aud", audience);
            w.WriteNumber("iat", now);
            w.WriteNumber("nbf", now);
            w.WriteNumber("exp", expires);
            w.WriteString("jti", Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(16)));
            foreach (string key in order)
            {
                var values = grouped[key];
                if (values.Count == 1)
                {
                    w.WriteString(key, values[0]);
                }
                else
                {
                    WriteArray(w, key, [.. values]);
                }
            }
        }));

        string signingInput = _headerSegment + "." + payload;
        byte[] signature;
        lock (_signLock)
        {
            // IEEE P1363 (r || s) is the JWS encoding of an ECDSA signature.
            signature = _signingKey.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }

        return signingInput + "." + Base64UrlEncoder.Encode(signature);
    }

    /// <summary>The OpenID discovery document served at <c>{IssuerUrl}/.well-known/openid-configuration</c>.</summary>
    public string DiscoveryDocumentJson() => _discoveryJson;

    /// <summary>The JWK set (one public key) served at <c>{IssuerUrl}/jwks</c>.</summary>
    public string JwksJson() => _jwksJson;

    private static ECDsa Load(string path)
    {
        if (!OperatingSystem.IsWindows())
        {
            const UnixFileMode shared = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            if ((File.GetUnixFileMode(path) & shared) != 0)
            {
                throw new InvalidOperationException($"the dev issuer key {path} is accessible to other users; run: chmod 600 {path}");
            }
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(path));
            if (key.KeySize != 256)
            {
                throw new InvalidDataException($"the dev issuer key {path} is not an EC P-256 key; delete it to make a new one");
            }

            return key;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new InvalidDataException($"the dev issuer key {path} is not a PEM EC private key; delete it to make a new one", ex);
        }
    }

    /// <summary>
    /// Creates <paramref name="path"/> with <paramref name="pem"/> unless it exists; false when it exists (another
    /// process won). Creation is exclusive (O_EXCL), so exactly one writer wins; a rename would let a later one replace it.
    /// </summary>
    private static bool TryPublish(string path, string pem)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.Read };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using var stream = new FileStream(path, options);
            stream.Write(Encoding.ASCII.GetBytes(pem));
            stream.Flush(flushToDisk: true);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
    }

    private static string Json(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteArray(Utf8JsonWriter writer, string name, params string[] values)
    {
        writer.WriteStartArray(name);
        foreach (string value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }
}
