using System.Globalization;
using System.Net;
using Npgsql;

namespace Gatehouse.Demo;

/// <summary>
/// The server given with <c>gatehouse demo --upstream postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE][?sslmode=…&amp;sslrootcert=…]</c>.
/// Its user becomes the demo's provisioner. The password (from the URI, else PGPASSWORD) is kept in memory
/// only and never appears in an error message.
/// </summary>
public sealed record UpstreamUri(string Host, int Port, string User, string Password, string Database, string TlsMode, string? RootCertificate)
{
    public const string Form = "postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE][?sslmode=disable|require|verify-ca|verify-full]";

    /// <summary>host:port/database, without credentials, for messages.</summary>
    public string Display => $"{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}/{Database}";

    public bool IsLoopback => Host == "localhost" || (IPAddress.TryParse(Host, out var address) && IPAddress.IsLoopback(address));

    public static UpstreamUri? TryParse(string text, out string error)
    {
        error = string.Empty;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("postgres" or "postgresql"))
        {
            error = $"--upstream must be a URI of the form {Form}";
            return null;
        }

        string[] userInfo = uri.UserInfo.Split(':', 2);
        string user = Uri.UnescapeDataString(userInfo[0]);
        if (user.Length == 0)
        {
            error = $"--upstream names no user: the demo needs the provisioner's login ({Form})";
            return null;
        }

        string? password = userInfo.Length == 2 ? Uri.UnescapeDataString(userInfo[1]) : Environment.GetEnvironmentVariable("PGPASSWORD");
        if (string.IsNullOrEmpty(password))
        {
            error = "--upstream has no password: put it in the URI (USER:PASSWORD@…) or in PGPASSWORD";
            return null;
        }

        string host = uri.IdnHost.Trim('[', ']');
        if (host.Length == 0)
        {
            error = $"--upstream names no host ({Form})";
            return null;
        }

        string database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Contains('/', StringComparison.Ordinal))
        {
            error = $"--upstream path must be one database name ({Form})";
            return null;
        }

        string? tls = null;
        string? rootCertificate = null;
        foreach (string pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = pair.Split('=', 2);
            string key = Uri.UnescapeDataString(parts[0]);
            string value = parts.Length == 2 ? Uri.UnescapeDataString(parts[1]) : string.Empty;
            switch (key)
            {
                case "sslmode" when value is "disable" or "require" or "verify-ca" or "verify-full":
                    tls = value;
                    break;
                case "sslmode":
                    error = $"--upstream sslmode '{Shorten(value)}' is not supported: use disable, require, verify-ca or verify-full";
                    return null;
                case "sslrootcert":
                    rootCertificate = Path.GetFullPath(value);
                    break;
                default:
                    error = $"--upstream parameter '{Shorten(key)}' is not supported (only sslmode and sslrootcert)";
                    return null;
            }
        }

        var parsed = new UpstreamUri(host, uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port, user, password,
            database.Length == 0 ? "postgres" : database, "disable", rootCertificate);
        // libpq would "prefer" TLS; Gatehouse's targets know no such mode. Loopback servers often have no
        // certificate, so plaintext is the default there; anything else is verified unless the URI says otherwise.
        return parsed with { TlsMode = tls ?? (parsed.IsLoopback ? "disable" : "verify-full") };
    }

    public string ConnectionString(string? database = null) => new NpgsqlConnectionStringBuilder
    {
        Host = Host,
        Port = Port,
        Username = User,
        Password = Password,
        Database = database ?? Database,
        SslMode = TlsMode switch
        {
            "disable" => SslMode.Disable,
            "require" => SslMode.Require,
            "verify-ca" => SslMode.VerifyCA,
            _ => SslMode.VerifyFull,
        },
        RootCertificate = RootCertificate,
        Pooling = false,
        Timeout = 15,
    }.ConnectionString;

    public string PortText => Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Never the password: records print every member by default.</summary>
    public override string ToString() => $"postgres://{User}@{Display}";

    private static string Shorten(string value) => value.Length > 40 ? value[..40] + "…" : value;
}
