using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Gatehouse.Reviews;

/// <summary>
/// What an approval is for: one identity running exactly this SQL text with exactly these parameter values on this
/// target. Fields are length-prefixed (no two different requests give the same input); a NULL parameter differs
/// from an empty one. The text is compared as sent: a different spacing is a different statement.
/// </summary>
public static class ReviewFingerprint
{
    public static string Of(string subject, string issuer, string target, string sql, IReadOnlyList<string?> parameters)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Field(sha, issuer);
        Field(sha, subject);
        Field(sha, target);
        Field(sha, sql);
        Number(sha, parameters.Count);
        foreach (var parameter in parameters)
        {
            if (parameter is null)
            {
                Number(sha, -1);
            }
            else
            {
                Field(sha, parameter);
            }
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static void Field(IncrementalHash sha, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        Number(sha, bytes.Length);
        sha.AppendData(bytes);
    }

    private static void Number(IncrementalHash sha, long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        sha.AppendData(bytes);
    }
}
