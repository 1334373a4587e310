using System.Security.Cryptography;
using System.Text;

namespace Gatehouse.Credentials;

/// <summary>
/// Rotate mode's passwords, which every instance of a deployment computes alike without talking to the others:
/// time is cut into periods of <c>every</c> counted from the Unix epoch, and a period's password is an HMAC of the
/// role and the period's number keyed by the provisioner password. Whoever can compute it could set the role's
/// password anyway, and nothing secret is stored or sent between instances.
/// </summary>
internal static class RotationPeriods
{
    /// <summary>The number of the period <paramref name="now"/> falls in.</summary>
    public static long Number(DateTimeOffset now, TimeSpan every) => now.ToUnixTimeMilliseconds() / (long)every.TotalMilliseconds;

    /// <summary>When period <paramref name="number"/> began.</summary>
    public static DateTimeOffset Start(long number, TimeSpan every) => DateTimeOffset.FromUnixTimeMilliseconds(number * (long)every.TotalMilliseconds);

    /// <summary>The password of <paramref name="role"/> for one period: 32 bytes, base64url.</summary>
    public static string Password(string provisionerPassword, string provisionerUser, string role, long number)
    {
        var key = Encoding.UTF8.GetBytes(provisionerPassword);
        var label = Encoding.UTF8.GetBytes($"gatehouse rotate v1\0{provisionerUser}\0{role}\0{number}");
        var password = RoleNames.Base64Url(HMACSHA256.HashData(key, label));
        CryptographicOperations.ZeroMemory(key);
        return password;
    }
}
