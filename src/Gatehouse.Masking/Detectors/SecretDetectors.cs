using System.Buffers;
using System.Buffers.Text;
using static Gatehouse.Masking.Detectors.Chars;

namespace Gatehouse.Masking.Detectors;

/// <summary>
/// Secrets with a recognisable shape. Each is triggered by one byte (<c>J _ - A B</c>) and anchored around it:
/// <list type="bullet">
/// <item>JWT / JWS / JWE: 3–5 base64url segments joined by dots, the first decoding to a JSON object with an
/// <c>"alg"</c> member (the signature may be empty);</item>
/// <item>PEM private keys: <c>-----BEGIN … PRIVATE KEY-----</c> (any label containing PRIVATE KEY) through the
/// matching <c>-----END …-----</c>; without an END line (truncated, or broken by a character no key holds) up to
/// where the key's characters stop: fail closed;</item>
/// <item>AWS access key ids <c>AKIA</c>/<c>ASIA</c> + 16 of <c>A–Z 0–9</c>;</item>
/// <item>GitHub tokens <c>ghp_ gho_ ghu_ ghs_ ghr_</c> + 30 or more letters/digits, and <c>github_pat_</c> + 22 or more;</item>
/// <item>Slack tokens <c>xoxa- xoxb- xoxp- xoxr- xoxs-</c> + 10 or more of letters, digits, dashes;</item>
/// <item>Stripe secret and restricted keys <c>sk_live_ rk_live_ sk_test_ rk_test_</c> + 16 or more letters/digits;</item>
/// <item>the token after <c>Bearer </c> when it is 20 or more of <c>A–Z a–z 0–9 - . _ ~ + / =</c> (the word stays).</item>
/// </list>
/// </summary>
internal static class SecretDetectors
{
    private const int MaxPemBytes = 64 * 1024;
    private const int MaxJwtHeaderChars = 2048;
    private const int MaxTokenBytes = 4096;

    private static readonly SearchValues<byte> PemBody =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n:,-."u8);

    /// <summary>p at the J of <c>eyJ</c>.</summary>
    public static bool TryJwt(ReadOnlySpan<byte> t, int p, int floor, out int start, out int end)
    {
        start = p - 2;
        end = -1;
        if (start < floor || t[start] != 'e' || t[start + 1] != 'y' || !TokenBoundaryBefore(t, start))
        {
            return false;
        }

        var i = start;
        while (i < t.Length && IsBase64Url(t[i]) && i - start <= MaxJwtHeaderChars)
        {
            i++;
        }

        if (i - start > MaxJwtHeaderChars || i >= t.Length || t[i] != '.' || !IsJoseHeader(t[start..i]))
        {
            return false;
        }

        var segments = 1;
        while (segments < 5 && i < t.Length && t[i] == '.')
        {
            var j = i + 1;
            while (j < t.Length && IsBase64Url(t[j]) && j - i <= MaxTokenBytes * 4)
            {
                j++;
            }

            if (j == i + 1 && segments != 2)
            {
                break; // only the signature (third segment) may be empty
            }

            i = j;
            segments++;
        }

        end = i;
        return segments >= 3;
    }

    private static bool IsJoseHeader(ReadOnlySpan<byte> segment)
    {
        Span<byte> json = stackalloc byte[MaxJwtHeaderChars * 3 / 4 + 3];
        if (Base64Url.DecodeFromUtf8(segment, json, out _, out var written) != OperationStatus.Done)
        {
            return false;
        }

        var header = json[..written].Trim(" \t\r\n"u8);
        if (header.Length < 2 || header[0] != '{' || header[^1] != '}')
        {
            return false;
        }

        // "alg" as a member name: followed by a colon, not a value ({"x":"alg"}).
        for (var at = header.IndexOf("\"alg\""u8); at > 0; at = NextAlg(header, at))
        {
            var rest = header[(at + 5)..].TrimStart(" \t\r\n"u8);
            if (!rest.IsEmpty && rest[0] == ':')
            {
                return true;
            }
        }

        return false;

        static int NextAlg(ReadOnlySpan<byte> header, int at)
        {
            var next = header[(at + 1)..].IndexOf("\"alg\""u8);
            return next < 0 ? -1 : at + 1 + next;
        }
    }

    /// <summary>p at a dash: a PEM private key, or a Slack token (<c>xoxb-</c>: p at its dash).</summary>
    public static bool TryDash(ReadOnlySpan<byte> t, int p, int floor, out int start, out int end)
    {
        if (At(t, p, "-----BEGIN "u8))
        {
            start = p;
            return TryPem(t, p, out end);
        }

        start = p - 4;
        end = -1;
        if (start < floor || !At(t, start, "xox"u8) || t[p - 1] is not ((byte)'a' or (byte)'b' or (byte)'p' or (byte)'r' or (byte)'s') || !TokenBoundaryBefore(t, start))
        {
            return false;
        }

        var i = p + 1;
        while (i < t.Length && (IsAlnum(t[i]) || t[i] == '-') && i - p <= MaxTokenBytes)
        {
            i++;
        }

        end = i;
        return i - p - 1 >= 10 && (i == t.Length || t[i] != '_');
    }

    private static bool TryPem(ReadOnlySpan<byte> t, int p, out int end)
    {
        var label = p + "-----BEGIN "u8.Length;
        var close = label;
        while (close < t.Length && close - label < 64 && (IsUpperOrDigit(t[close]) || t[close] == ' '))
        {
            close++;
        }

        if (!At(t, close, "-----"u8) || t[label..close].IndexOf("PRIVATE KEY"u8) < 0)
        {
            end = -1;
            return false;
        }

        var i = close + 5;
        while (i < t.Length && i - p < MaxPemBytes)
        {
            var b = t[i];
            if (b == '-' && At(t, i, "-----END "u8))
            {
                var j = i + "-----END "u8.Length;
                while (j < t.Length && j - i < 80 && (IsUpperOrDigit(t[j]) || t[j] == ' '))
                {
                    j++;
                }

                if (At(t, j, "-----"u8))
                {
                    end = j + 5;
                    return true;
                }

                break;
            }

            if (PemBody.Contains(b))
            {
                i++;
                continue;
            }

            if (b == '\\')
            {
                // An escaped line break inside a JSON string or a literal: "\n", "\\n" (nested), never half of one.
                var j = i;
                while (j < t.Length && t[j] == '\\')
                {
                    j++;
                }

                if (j < t.Length && t[j] is (byte)'n' or (byte)'r' or (byte)'t')
                {
                    i = j + 1;
                    continue;
                }
            }

            break;
        }

        // No END line: up to where the key's characters stop (fail closed), without a trailing separator.
        while (i > close + 5 && t[i - 1] is (byte)' ' or (byte)',' or (byte)'.' or (byte)':')
        {
            i--;
        }

        end = i;
        return true;
    }

    /// <summary>p at an underscore: GitHub (<c>ghp_</c>, <c>github_pat_</c>) or Stripe (<c>sk_live_</c>) tokens.</summary>
    public static bool TryUnderscore(ReadOnlySpan<byte> t, int p, int floor, out int start, out int end)
    {
        end = -1;
        start = p - 3;
        if (start >= floor && t[start] == 'g' && t[start + 1] == 'h' && t[p - 1] is (byte)'p' or (byte)'o' or (byte)'u' or (byte)'s' or (byte)'r'
            && TokenBoundaryBefore(t, start))
        {
            return Body(t, p + 1, 30, underscore: false, out end);
        }

        start = p - 6;
        if (start >= floor && At(t, start, "github_pat_"u8) && TokenBoundaryBefore(t, start))
        {
            return Body(t, p + 5, 22, underscore: true, out end);
        }

        start = p - 2;
        if (start >= floor && t[start] is (byte)'s' or (byte)'r' && t[start + 1] == 'k' && (At(t, p, "_live_"u8) || At(t, p, "_test_"u8))
            && TokenBoundaryBefore(t, start))
        {
            return Body(t, p + 6, 16, underscore: false, out end);
        }

        return false;
    }

    private static bool Body(ReadOnlySpan<byte> t, int from, int min, bool underscore, out int end)
    {
        var i = from;
        while (i < t.Length && (IsAlnum(t[i]) || (underscore && t[i] == '_')) && i - from <= MaxTokenBytes)
        {
            i++;
        }

        end = i;
        return i - from >= min && (i == t.Length || !IsBase64Url(t[i]));
    }

    /// <summary>p at the A of <c>AKIA</c> or <c>ASIA</c>.</summary>
    public static bool TryAws(ReadOnlySpan<byte> t, int p, out int end)
    {
        end = p + 20;
        if (!(At(t, p, "AKIA"u8) || At(t, p, "ASIA"u8)) || end > t.Length || !BoundaryBefore(t, p) || !BoundaryAfter(t, end))
        {
            return false;
        }

        for (var i = p + 4; i < end; i++)
        {
            if (!IsUpperOrDigit(t[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>p at the B of <c>Bearer </c>: the token after it.</summary>
    public static bool TryBearer(ReadOnlySpan<byte> t, int p, out int start, out int end)
    {
        start = p + "Bearer "u8.Length;
        end = -1;
        if (!At(t, p, "Bearer "u8) || !BoundaryBefore(t, p))
        {
            return false;
        }

        var i = start;
        while (i < t.Length && IsTokenChar(t[i]) && i - start <= MaxTokenBytes)
        {
            i++;
        }

        // A trailing dot or slash is more likely punctuation than token.
        while (i > start && t[i - 1] is (byte)'.' or (byte)'/')
        {
            i--;
        }

        end = i;
        return i - start >= 20;

        static bool IsTokenChar(byte b) => IsBase64Url(b) || b is (byte)'.' or (byte)'~' or (byte)'+' or (byte)'/' or (byte)'=';
    }
}
