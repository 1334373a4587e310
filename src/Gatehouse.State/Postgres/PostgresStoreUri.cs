using Npgsql;

namespace Gatehouse.State.Postgres;

/// <summary>
/// <c>postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&amp;sslrootcert=…&amp;password_file=…]</c>
/// (or <c>postgresql://</c>) as Npgsql settings. The password comes from the URI, else the file
/// <c>password_file=</c> names (first line), else <c>PGPASSWORD</c>; at most one of the first two.
/// Errors name the part that is wrong, never the URI's text (it may hold a password).
/// </summary>
internal static class PostgresStoreUri
{
    private static readonly string[] SslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

    /// <summary>The settings, or one line for the operator.</summary>
    public static (NpgsqlConnectionStringBuilder? Settings, string? Error) Parse(string uri, Func<string, string?> environment)
    {
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.Host.Length == 0)
            return Fail("is not a URI of the form postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE");
        var database = Uri.UnescapeDataString(parsed.AbsolutePath.TrimStart('/'));
        if (database.Length == 0 || database.Contains('/'))
            return Fail("needs a database: postgres://USER@HOST/DATABASE");
        var userInfo = parsed.UserInfo;
        var colon = userInfo.IndexOf(':');
        var user = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
        var password = colon < 0 ? null : Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        if (user.Length == 0)
            return Fail("needs a user: postgres://USER@HOST/DATABASE");

        var settings = new NpgsqlConnectionStringBuilder
        {
            Host = parsed.DnsSafeHost,
            Port = parsed.IsDefaultPort || parsed.Port < 0 ? 5432 : parsed.Port,
            Database = database,
            Username = user,
            ApplicationName = "gatehouse",
            Timeout = 10,
        };

        string? passwordFile = null;
        foreach (var pair in parsed.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            switch (key)
            {
                case "sslmode" when SslModes.Contains(value):
                    settings.SslMode = Enum.Parse<SslMode>(value.Replace("-", ""), ignoreCase: true);
                    break;
                case "sslmode":
                    return Fail($"sslmode must be one of {string.Join(", ", SslModes)}");
                case "sslrootcert":
                    settings.RootCertificate = value;
                    break;
                case "password_file":
                    passwordFile = value;
                    break;
                default:
                    return Fail(IsPlainName(key)
                        ? $"parameter '{key}' is not supported (use sslmode, sslrootcert, password_file)"
                        : "has a query parameter that is not supported (use sslmode, sslrootcert, password_file)");
            }
        }

        if (passwordFile is not null)
        {
            if (password is not null)
                return Fail("has both a password and password_file; use one");
            try
            {
                password = File.ReadLines(passwordFile).FirstOrDefault()?.TrimEnd('\r') ?? "";
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                return Fail($"cannot read password_file {passwordFile}: {ex.Message}");
            }
        }
        password ??= environment("PGPASSWORD");
        if (password is not null)
            settings.Password = password;
        return (settings, null);
    }

    /// <summary>Where the store is, safe to print: host, port and database (no user, no password).</summary>
    public static string Describe(NpgsqlConnectionStringBuilder settings) => $"postgres://{settings.Host}:{settings.Port}/{settings.Database}";

    private static bool IsPlainName(string key) => key.Length is > 0 and <= 40 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    private static (NpgsqlConnectionStringBuilder?, string?) Fail(string what) => (null, $"state: the postgres:// value {what}");
}
