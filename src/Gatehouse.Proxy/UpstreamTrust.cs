using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Gatehouse.Proxy;

/// <summary>Certificate checks for the upstream TLS modes, as libpq defines them.</summary>
internal static class UpstreamTrust
{
    public static bool Validate(UpstreamTarget target, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (target.Tls == UpstreamTlsMode.Require)
        {
            return true;
        }

        if (certificate is null)
        {
            return false;
        }

        var nameErrors = errors & SslPolicyErrors.RemoteCertificateNameMismatch;
        if (target.RootCertificatePath is null)
        {
            var chainErrors = errors & ~SslPolicyErrors.RemoteCertificateNameMismatch;
            return chainErrors == SslPolicyErrors.None && (target.Tls == UpstreamTlsMode.VerifyCa || nameErrors == SslPolicyErrors.None);
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(LoadRoots(target.RootCertificatePath));
        using var leaf = new X509Certificate2(certificate);
        if (!chain.Build(leaf))
        {
            return false;
        }

        return target.Tls == UpstreamTlsMode.VerifyCa || leaf.MatchesHostname(target.Host);
    }

    private static X509Certificate2Collection LoadRoots(string path)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(path);
        return roots;
    }
}
