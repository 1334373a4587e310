using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Proxy;

/// <summary>The certificate clients see: the configured one, or a self-signed one kept in the state directory.</summary>
public static class ServerCertificate
{
    public static X509Certificate2 Load(ServerTlsOptions tls, ILogger logger)
    {
        if (tls.CertificatePath is not null)
        {
            return Reimport(X509Certificate2.CreateFromPemFile(tls.CertificatePath, tls.KeyPath));
        }

        string certPath = Path.Combine(tls.SelfSignedDirectory, "gatehouse-selfsigned.pem");
        string keyPath = Path.Combine(tls.SelfSignedDirectory, "gatehouse-selfsigned-key.pem");
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            var existing = Reimport(X509Certificate2.CreateFromPemFile(certPath, keyPath));
            if (existing.NotAfter > DateTime.Now.AddDays(7))
            {
                return existing;
            }
        }

        Directory.CreateDirectory(tls.SelfSignedDirectory);
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=gatehouse", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddDnsName(Dns.GetHostName());
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(1));
        WritePrivate(keyPath, rsa.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPath, created.ExportCertificatePem());
        Log.GeneratedCertificate(logger, certPath);
        return Reimport(X509Certificate2.CreateFromPemFile(certPath, keyPath));
    }

    /// <summary>Writes a file readable by its owner only, without a window where it is world-readable.</summary>
    public static void WritePrivate(string path, string contents)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(contents);
    }

    // SslStream on Linux wants a certificate whose key is not ephemeral.
    private static X509Certificate2 Reimport(X509Certificate2 certificate)
    {
        using (certificate)
        {
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        }
    }
}
