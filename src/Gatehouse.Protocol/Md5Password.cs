using System.Security.Cryptography;
using System.Text;

namespace Gatehouse.Protocol;

/// <summary>The legacy md5 password response: "md5" + md5(md5(password + user) + salt).</summary>
public static class Md5Password
{
    public static string Compute(string user, string password, ReadOnlySpan<byte> salt)
    {
#pragma warning disable CA5351 // md5 is what the server asked for; SCRAM is preferred when offered.
        string inner = Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(password + user)));
        byte[] outerInput = [.. Encoding.UTF8.GetBytes(inner), .. salt];
        return "md5" + Convert.ToHexStringLower(MD5.HashData(outerInput));
#pragma warning restore CA5351
    }
}
