using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Gatehouse.Protocol;

/// <summary>Key derivation shared by the SCRAM-SHA-256 client and the verifier builder (RFC 5802, RFC 7677).</summary>
public static class ScramKeys
{
    public const int DefaultIterations = 4096;

    public static byte[] SaltedPassword(string password, ReadOnlySpan<byte> salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password.Normalize(NormalizationForm.FormKC)), salt, iterations, HashAlgorithmName.SHA256, 32);

    public static byte[] ClientKey(byte[] saltedPassword) => HMACSHA256.HashData(saltedPassword, "Client Key"u8);

    public static byte[] ServerKey(byte[] saltedPassword) => HMACSHA256.HashData(saltedPassword, "Server Key"u8);

    /// <summary>The verifier PostgreSQL stores in pg_authid, so a role's password can be set without sending it.</summary>
    public static string Verifier(string password, int iterations = DefaultIterations)
    {
        Span<byte> salt = stackalloc byte[16];
        RandomNumberGenerator.Fill(salt);
        var salted = SaltedPassword(password, salt, iterations);
        var storedKey = SHA256.HashData(ClientKey(salted));
        var serverKey = ServerKey(salted);
        return $"SCRAM-SHA-256${iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
    }
}

/// <summary>
/// The client side of one SCRAM-SHA-256 exchange with an upstream server. Uses channel binding
/// (tls-server-end-point) when the server offers SCRAM-SHA-256-PLUS over TLS.
/// </summary>
public sealed class ScramSha256Client
{
    private readonly string _password;
    private readonly string _clientNonce;
    private readonly byte[]? _channelBindingData;
    private string _clientFirstBare = string.Empty;
    private byte[]? _expectedServerSignature;

    public ScramSha256Client(string password, IReadOnlyList<string> serverMechanisms, X509Certificate2? serverCertificate)
    {
        _password = password;
        _clientNonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        if (serverCertificate is not null && serverMechanisms.Contains("SCRAM-SHA-256-PLUS"))
        {
            Mechanism = "SCRAM-SHA-256-PLUS";
            _channelBindingData = EndPointHash(serverCertificate);
            Gs2Header = "p=tls-server-end-point,,";
        }
        else if (serverMechanisms.Contains("SCRAM-SHA-256"))
        {
            Mechanism = "SCRAM-SHA-256";
            // "y": we could bind, but the server did not offer it (guards against a downgrade when over TLS).
            Gs2Header = serverCertificate is not null ? "y,," : "n,,";
        }
        else
        {
            throw new NotSupportedException("The server offers no SCRAM-SHA-256 mechanism.");
        }
    }

    public string Mechanism { get; }

    private string Gs2Header { get; }

    public byte[] ClientFirstMessage()
    {
        _clientFirstBare = "n=*,r=" + _clientNonce;
        return Encoding.UTF8.GetBytes(Gs2Header + _clientFirstBare);
    }

    /// <summary>Builds client-final-message from server-first-message; null with an error when the server's message is invalid.</summary>
    public byte[]? ClientFinalMessage(ReadOnlySpan<byte> serverFirst, out string? error)
    {
        string serverFirstText = Encoding.UTF8.GetString(serverFirst);
        string? nonce = null, saltText = null, iterationText = null;
        foreach (var part in serverFirstText.Split(','))
        {
            if (part.StartsWith("r=", StringComparison.Ordinal)) nonce = part[2..];
            else if (part.StartsWith("s=", StringComparison.Ordinal)) saltText = part[2..];
            else if (part.StartsWith("i=", StringComparison.Ordinal)) iterationText = part[2..];
        }

        if (nonce is null || saltText is null || !int.TryParse(iterationText, out int iterations) || iterations < 1
            || !nonce.StartsWith(_clientNonce, StringComparison.Ordinal) || nonce.Length == _clientNonce.Length)
        {
            error = "invalid SCRAM server-first-message";
            return null;
        }

        byte[] salt;
        try
        {
            salt = Convert.FromBase64String(saltText);
        }
        catch (FormatException)
        {
            error = "invalid SCRAM salt";
            return null;
        }

        var bindInput = Encoding.UTF8.GetBytes(Gs2Header);
        if (_channelBindingData is not null)
        {
            bindInput = [.. bindInput, .. _channelBindingData];
        }

        string clientFinalWithoutProof = "c=" + Convert.ToBase64String(bindInput) + ",r=" + nonce;
        byte[] authMessage = Encoding.UTF8.GetBytes(_clientFirstBare + "," + serverFirstText + "," + clientFinalWithoutProof);
        byte[] salted = ScramKeys.SaltedPassword(_password, salt, iterations);
        byte[] clientKey = ScramKeys.ClientKey(salted);
        byte[] signature = HMACSHA256.HashData(SHA256.HashData(clientKey), authMessage);
        for (int i = 0; i < clientKey.Length; i++)
        {
            clientKey[i] ^= signature[i];
        }

        _expectedServerSignature = HMACSHA256.HashData(ScramKeys.ServerKey(salted), authMessage);
        error = null;
        return Encoding.UTF8.GetBytes(clientFinalWithoutProof + ",p=" + Convert.ToBase64String(clientKey));
    }

    /// <summary>Checks server-final-message: proves the server knew the password too.</summary>
    public bool VerifyServerFinal(ReadOnlySpan<byte> serverFinal)
    {
        string text = Encoding.UTF8.GetString(serverFinal);
        if (_expectedServerSignature is null || !text.StartsWith("v=", StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            return CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(text[2..].Split(',')[0]), _expectedServerSignature);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>RFC 5929 tls-server-end-point: the certificate hashed with its signature's hash (MD5/SHA-1 become SHA-256).</summary>
    private static byte[] EndPointHash(X509Certificate2 certificate)
    {
        string oid = certificate.SignatureAlgorithm.Value ?? string.Empty;
        return oid switch
        {
            "1.2.840.113549.1.1.12" or "1.2.840.10045.4.3.3" => SHA384.HashData(certificate.RawData),
            "1.2.840.113549.1.1.13" or "1.2.840.10045.4.3.4" => SHA512.HashData(certificate.RawData),
            _ => SHA256.HashData(certificate.RawData),
        };
    }
}
