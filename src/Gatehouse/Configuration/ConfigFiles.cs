using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gatehouse.Yaml;

namespace Gatehouse.Configuration;

public enum ConfigFileKind
{
    /// <summary>A password, secret or key: any readable file.</summary>
    Secret,

    /// <summary>tls.certificate: a PEM certificate that goes with tls.key.</summary>
    TlsCertificate,

    /// <summary>A PEM bundle of CA certificates.</summary>
    CaBundle,
}

/// <summary>
/// A file gatehouse.yaml names, and where. Loading only records it (the verbs that read the trail may run where the
/// secrets are not); <see cref="ConfigFiles.Check"/> reads each when the gateway starts, so a missing, unreadable or
/// malformed file is one line at its key instead of an exception.
/// </summary>
public sealed record ConfigFile(string Key, string Path, ConfigFileKind Kind, string Source, int Line, int Column)
{
    public string Error(string reason) => new YamlError(Source, Line, Column, $"{Key}: cannot read {Path}: {reason}").ToString();
}

/// <summary>The files of one gatehouse.yaml, collected by its readers.</summary>
public sealed class ConfigFiles
{
    private readonly List<ConfigFile> _files = [];

    public IReadOnlyList<ConfigFile> All => _files;

    /// <summary>Reads <paramref name="key"/> of <paramref name="section"/> as a path; records and returns it resolved, or null when absent.</summary>
    internal string? Read(YamlSection section, string key, string name, ConfigFileKind kind, Func<string?, string> resolve)
    {
        if (section.String(key) is not { } relative)
        {
            return null;
        }

        var at = section.Get(key)!;
        string path = resolve(relative);
        _files.Add(new ConfigFile(name, path, kind, section.File, at.Line, at.Column));
        return path;
    }

    /// <summary>One error line per file that cannot be read as what it should be; empty when all can.</summary>
    public static IReadOnlyList<string> Check(GatewayConfig config)
    {
        var errors = new List<string>();
        foreach (var file in config.Files)
        {
            if ((Unreadable(file.Path) ?? Malformed(file, config)) is { } reason)
            {
                errors.Add(file.Error(reason));
            }
        }

        return errors;
    }

    private static string? Unreadable(string path)
    {
        if (Directory.Exists(path))
        {
            return "it is a directory";
        }

        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return null;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return "no such file";
        }
        catch (UnauthorizedAccessException)
        {
            return "permission denied";
        }
        catch (IOException ex)
        {
            return ex.Message;
        }
    }

    private static string? Malformed(ConfigFile file, GatewayConfig config)
    {
        try
        {
            switch (file.Kind)
            {
                case ConfigFileKind.TlsCertificate when config.Tls.KeyPath is { } key && Unreadable(key) is null:
                    using (X509Certificate2.CreateFromPemFile(file.Path, key))
                    {
                        return null;
                    }

                case ConfigFileKind.CaBundle:
                    var bundle = new X509Certificate2Collection();
                    bundle.ImportFromPemFile(file.Path);
                    return bundle.Count == 0 ? "no PEM certificate (-----BEGIN CERTIFICATE-----) in it" : null;
                default:
                    return null;
            }
        }
        catch (CryptographicException ex)
        {
            return file.Kind == ConfigFileKind.TlsCertificate ? $"not a PEM certificate matching tls.key {config.Tls.KeyPath}: {ex.Message}" : ex.Message;
        }
    }
}
