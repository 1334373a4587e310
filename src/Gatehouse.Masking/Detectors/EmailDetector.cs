using static Gatehouse.Masking.Detectors.Chars;

namespace Gatehouse.Masking.Detectors;

/// <summary>
/// Addresses around an <c>@</c>: a local part of 1–64 of <c>A–Z a–z 0–9 . _ % + -</c> (not starting or ending with a
/// dot), and a domain of two or more labels of letters, digits and hyphens whose last is two or more letters (or
/// <c>xn--…</c>), 253 bytes at most. ASCII only: internationalised addresses are not detected. The alphabet holds
/// none of <c>" \ , { } ( ) &lt; &amp;</c>, so a match never swallows container syntax.
/// </summary>
internal static class EmailDetector
{
    public static bool TryMatch(ReadOnlySpan<byte> t, int at, int floor, out int start, out int end)
    {
        end = -1;
        start = at;
        while (start > floor && at - start < 64 * 6)
        {
            // A JSON escape of a local-part character ("bob\u002Btag@…") is part of the address; of anything else, its end.
            if (start - 6 >= floor && IsUnicodeEscape(t, start - 6))
            {
                if (!IsLocal(UnicodeEscapeValue(t, start - 6)))
                {
                    break;
                }

                start -= 6;
                continue;
            }

            if (!IsLocal(t[start - 1]) || at - start >= 64)
            {
                break;
            }

            start--;
        }

        while (start < at && t[start] == '.')
        {
            start++;
        }

        if (start < at && IsEscaped(t, start))
        {
            start++; // "\nalice@…" in JSON: the n belongs to the escape
        }

        if (start == at || t[at - 1] == '.')
        {
            return false;
        }

        var i = at + 1;
        var labels = 0;
        var lastLabel = i;
        while (true)
        {
            var labelStart = i;
            while (i < t.Length && (IsAlnum(t[i]) || t[i] == '-') && i - labelStart < 64)
            {
                i++;
            }

            if (i == labelStart || i - labelStart > 63)
            {
                return false;
            }

            labels++;
            lastLabel = labelStart;
            if (i + 1 < t.Length && t[i] == '.' && IsAlnum(t[i + 1]) && i - at < 253)
            {
                i++;
                continue;
            }

            break;
        }

        end = i;
        var tld = t[lastLabel..end];
        return labels >= 2 && end - at - 1 <= 253 && (tld.StartsWith("xn--"u8) || IsLetters(tld)) && !(end < t.Length && t[end] is (byte)'-' or (byte)'_');
    }

    private static bool IsLocal(byte b) => IsAlnum(b) || b is (byte)'.' or (byte)'_' or (byte)'%' or (byte)'+' or (byte)'-';

    private static bool IsLetters(ReadOnlySpan<byte> label)
    {
        if (label.Length < 2)
        {
            return false;
        }

        foreach (var b in label)
        {
            if (!IsLetter(b))
            {
                return false;
            }
        }

        return true;
    }
}
