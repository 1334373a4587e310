using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Gatehouse.Credentials;

/// <summary>Names, passwords and SQL quoting for leased roles.</summary>
internal static partial class RoleNames
{
    public const string Prefix = "gh_";

    /// <summary>Stored as the role's comment; the reaper only drops gh_ roles that carry it.</summary>
    public const string Marker = "gatehouse lease";

    private const int MaxIdentifierBytes = 63;
    private const int SuffixLength = 10;
    private const string SuffixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>gh_&lt;subject-slug&gt;_&lt;10 random [a-z0-9]&gt;, at most 63 bytes, only [a-z0-9_].</summary>
    public static string Create(string subject)
    {
        var maxSlug = MaxIdentifierBytes - Prefix.Length - 1 - SuffixLength;
        return $"{Prefix}{Slug(subject, maxSlug)}_{RandomSuffix()}";
    }

    public static string Slug(string subject, int maxLength)
    {
        var slug = new StringBuilder(Math.Min(subject.Length, maxLength));
        foreach (var c in subject.ToLowerInvariant())
        {
            if (slug.Length == maxLength)
                break;
            var keep = c is (>= 'a' and <= 'z') or (>= '0' and <= '9');
            if (keep)
                slug.Append(c);
            else if (slug.Length > 0 && slug[^1] != '_')
                slug.Append('_');
        }
        var result = slug.ToString().Trim('_');
        return result.Length == 0 ? "x" : result;
    }

    public static bool IsLeaseName(string role) => LeaseNamePattern().IsMatch(role);

    /// <summary>32 random bytes, base64url: the plaintext only Gatehouse and its upstream logins ever hold.</summary>
    public static string NewPassword() => Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>A double-quoted identifier with embedded quotes doubled.</summary>
    public static string QuoteIdentifier(string name)
    {
        if (name.Length == 0 || name.Contains('\0', StringComparison.Ordinal))
            throw new ArgumentException("not a valid identifier", nameof(name));
        return "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>A standard-conforming string literal; backslashes are refused rather than interpreted.</summary>
    public static string QuoteLiteral(string value)
    {
        if (value.Contains('\\', StringComparison.Ordinal) || value.Contains('\0', StringComparison.Ordinal))
            throw new ArgumentException("literal contains a backslash or NUL", nameof(value));
        return "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
    }

    public static string TimestampLiteral(DateTimeOffset time) =>
        "'" + time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00'";

    private static string RandomSuffix()
    {
        Span<char> chars = stackalloc char[SuffixLength];
        for (var i = 0; i < chars.Length; i++)
            chars[i] = SuffixAlphabet[RandomNumberGenerator.GetInt32(SuffixAlphabet.Length)];
        return new string(chars);
    }

    public static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [GeneratedRegex("^gh_[a-z0-9_]+_[a-z0-9]{10}$", RegexOptions.CultureInvariant)]
    private static partial Regex LeaseNamePattern();
}
