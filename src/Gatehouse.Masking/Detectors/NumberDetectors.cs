using static Gatehouse.Masking.Detectors.Chars;

namespace Gatehouse.Masking.Detectors;

/// <summary>
/// Detectors triggered by a digit at <c>p</c>: IBAN (whose check digits it is), SSN, credit card, phone. Each
/// returns the match <c>[start, end)</c>; <c>floor</c> is the end of the previous replacement, below which none looks.
/// </summary>
internal static class NumberDetectors
{
    /// <summary>
    /// 13–19 digits, Luhn-valid: one run of digits, or groups joined by one kind of separator (single spaces or
    /// single dashes), the longest valid prefix ending at a group end. A group followed by the other separator and a
    /// digit belongs to what follows (<c>4111 1111 1111 1111 078-05-1120</c>: a card, then an SSN). Not inside a
    /// decimal number (<c>3.1415…</c>, <c>…1111.5</c>).
    /// </summary>
    public static bool TryCard(ReadOnlySpan<byte> t, int p, out int end)
    {
        end = -1;
        if (!BoundaryBefore(t, p) || (p >= 2 && t[p - 1] is (byte)'.' or (byte)',' && IsDigit(t[p - 2])))
        {
            return false;
        }

        // Luhn without a buffer: the sum as if the last digit read is the check digit, and as if it is doubled;
        // each new digit flips every earlier digit's parity, so the two sums swap.
        int plain = 0, doubled = 0, count = 0;
        var i = p;
        byte separator = 0;
        while (true)
        {
            while (i < t.Length && IsDigit(t[i]))
            {
                if (count == 19)
                {
                    return end > 0;
                }

                var d = t[i++] - '0';
                (plain, doubled) = (doubled + d, plain + (d < 5 ? 2 * d : 2 * d - 9));
                count++;
            }

            var joined = i + 1 < t.Length && t[i] is (byte)' ' or (byte)'-' && IsDigit(t[i + 1]);
            if (joined && separator != 0 && t[i] != separator)
            {
                return end > 0;
            }

            if (count >= 13 && plain % 10 == 0 && BoundaryAfter(t, i) && !(i + 1 < t.Length && t[i] is (byte)'.' or (byte)',' && IsDigit(t[i + 1])))
            {
                end = i;
            }

            if (!joined || (separator == 0 && count >= 13))
            {
                return end > 0; // a whole run of 13 or more digits is not the first group of a longer number
            }

            separator = t[i++];
        }
    }

    /// <summary>US SSN <c>ddd-dd-dddd</c>: area not 000, 666 or 9xx, group not 00, serial not 0000; not part of a
    /// longer dash-joined number.</summary>
    public static bool TrySsn(ReadOnlySpan<byte> t, int p, out int end)
    {
        end = p + 11;
        if (end > t.Length || t[p + 3] != '-' || t[p + 6] != '-' || !BoundaryBefore(t, p) || !BoundaryAfter(t, end))
        {
            return false;
        }

        for (var i = 0; i < 11; i++)
        {
            if (i is not (3 or 6) && !IsDigit(t[p + i]))
            {
                return false;
            }
        }

        if ((p >= 2 && t[p - 1] == '-' && IsDigit(t[p - 2])) || (end + 1 < t.Length && t[end] == '-' && IsDigit(t[end + 1])))
        {
            return false;
        }

        var area = (t[p] - '0') * 100 + (t[p + 1] - '0') * 10 + (t[p + 2] - '0');
        var group = (t[p + 4] - '0') * 10 + (t[p + 5] - '0');
        var serial = t.Slice(p + 7, 4);
        return area is not (0 or 666) && area < 900 && group != 0 && !serial.SequenceEqual("0000"u8);
    }

    /// <summary>
    /// Phone numbers, by shape only (a bare run of digits is never one):
    /// <list type="bullet">
    /// <item>international: <c>+</c> then 8–15 digits, in groups joined by single spaces, dashes or dots, with at most
    /// one group of 1–4 digits in parentheses (<c>+1-555-0100</c>, <c>+44 (0) 20 7946 0958</c>, <c>+15550100100</c>);</item>
    /// <item>North American: <c>(ddd) ddd-dddd</c>, <c>(ddd)ddd-dddd</c>, <c>ddd-ddd-dddd</c>, <c>ddd.ddd.dddd</c>, each
    /// optionally after <c>1-</c>, <c>1.</c> or <c>1 </c>; the last group joined by a dash, dot or space after the parenthesised form.</item>
    /// </list>
    /// </summary>
    public static bool TryPhone(ReadOnlySpan<byte> t, int p, int floor, out int start, out int end)
    {
        start = p - 1;
        end = -1;
        if (start >= floor && t[start] == '+' && (start == 0 || !IsAlnum(t[start - 1])) && TryInternational(t, p, out end))
        {
            return true;
        }

        if (start >= floor && t[start] == '(' && (start == 0 || !IsAlnum(t[start - 1])) && TryNorthAmerican(t, start, out end))
        {
            return true;
        }

        start = p;
        if (!BoundaryBefore(t, p) || (p >= 2 && t[p - 1] is (byte)'-' or (byte)'.' && IsDigit(t[p - 2])))
        {
            return false;
        }

        if (t[p] == '1' && p + 2 < t.Length && t[p + 1] is (byte)'-' or (byte)'.' or (byte)' ' && TryNorthAmerican(t, p + 2, out end))
        {
            return true;
        }

        return TryNorthAmerican(t, p, out end);
    }

    private static bool TryInternational(ReadOnlySpan<byte> t, int i, out int end)
    {
        end = -1;
        var digits = 0;
        var parens = false;
        var afterLastDigit = i;
        while (i < t.Length)
        {
            var b = t[i];
            if (IsDigit(b))
            {
                if (++digits > 15)
                {
                    return false;
                }

                i++;
                afterLastDigit = i;
                continue;
            }

            if (b is (byte)' ' or (byte)'-' or (byte)'.' && i + 1 < t.Length && IsDigit(t[i - 1]) && (IsDigit(t[i + 1]) || (t[i + 1] == '(' && !parens)))
            {
                i++;
                continue;
            }

            if (b == '(' && !parens && digits > 0 && ParenGroup(t, i, out var length, out var inside))
            {
                parens = true;
                digits += inside;
                i += length;
                if (i + 1 < t.Length && t[i] is (byte)' ' or (byte)'-' or (byte)'.' && IsDigit(t[i + 1]))
                {
                    i++;
                }

                continue;
            }

            break;
        }

        // A separator consumed before something that turned out not to continue the number ("+1-555-0142 (SSN")
        // is not part of it.
        end = afterLastDigit;
        return digits is >= 8 and <= 15 && end > 0 && IsDigit(t[end - 1]) && BoundaryAfter(t, end) && !(end + 1 < t.Length && t[end] == '.' && IsDigit(t[end + 1]));
    }

    /// <summary><c>(d{1,4})</c> at <paramref name="i"/>: its length and the digits inside.</summary>
    private static bool ParenGroup(ReadOnlySpan<byte> t, int i, out int length, out int digits)
    {
        digits = 0;
        var j = i + 1;
        while (j < t.Length && IsDigit(t[j]) && digits < 5)
        {
            digits++;
            j++;
        }

        length = j + 1 - i;
        return digits is >= 1 and <= 4 && j < t.Length && t[j] == ')';
    }

    private static bool TryNorthAmerican(ReadOnlySpan<byte> t, int i, out int end)
    {
        end = -1;
        if (i < t.Length && t[i] == '(')
        {
            if (!Digits(t, i + 1, 3) || !At(t, i + 4, ")"u8))
            {
                return false;
            }

            i += 5;
            if (i < t.Length && t[i] == ' ')
            {
                i++;
            }

            if (!Digits(t, i, 3) || i + 3 >= t.Length || t[i + 3] is not ((byte)'-' or (byte)'.' or (byte)' ') || !Digits(t, i + 4, 4))
            {
                return false;
            }

            end = i + 8;
        }
        else
        {
            if (!Digits(t, i, 3) || i + 3 >= t.Length)
            {
                return false;
            }

            var separator = t[i + 3];
            if (separator is not ((byte)'-' or (byte)'.') || !Digits(t, i + 4, 3) || !At(t, i + 7, [separator]) || !Digits(t, i + 8, 4))
            {
                return false;
            }

            end = i + 12;
        }

        return BoundaryAfter(t, end) && !(end + 1 < t.Length && t[end] is (byte)'-' or (byte)'.' && IsDigit(t[end + 1]));
    }

    private static bool Digits(ReadOnlySpan<byte> t, int i, int count)
    {
        if (i < 0 || i + count > t.Length)
        {
            return false;
        }

        for (var k = 0; k < count; k++)
        {
            if (!IsDigit(t[i + k]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// IBAN, <c>p</c> at its check digits: two letters, two digits, 11–30 letters or digits (15–34 in all), either
    /// compact or in groups of four joined by single spaces (the last group 1–4), valid under ISO 7064 mod 97-10.
    /// Case-insensitive; no per-country length table, so about 1 in 97 random IBAN-shaped tokens passes.
    /// </summary>
    public static bool TryIban(ReadOnlySpan<byte> t, int p, int floor, out int start, out int end)
    {
        start = p - 2;
        end = -1;
        if (start < floor || !IsLetter(t[start]) || !IsLetter(t[start + 1]) || p + 1 >= t.Length || !IsDigit(t[p + 1]) || !BoundaryBefore(t, start))
        {
            return false;
        }

        Span<byte> chars = stackalloc byte[34];
        var run = start;
        while (run < t.Length && IsAlnum(t[run]) && run - start <= 34)
        {
            run++;
        }

        var length = run - start;
        if (length != 4 || run >= t.Length || t[run] != ' ')
        {
            if (length is < 15 or > 34 || !BoundaryAfter(t, run))
            {
                return false;
            }

            end = run;
            return Mod97(t[start..run]);
        }

        // Grouped: "DE89 3704 0044 0532 0130 00". Candidates end at group ends; the longest valid one wins.
        t.Slice(start, 4).CopyTo(chars);
        var count = 4;
        var i = run;
        while (i + 1 < t.Length && t[i] == ' ' && IsAlnum(t[i + 1]))
        {
            var groupStart = i + 1;
            var j = groupStart;
            while (j < t.Length && IsAlnum(t[j]) && j - groupStart < 5)
            {
                j++;
            }

            var group = j - groupStart;
            if (group > 4 || count + group > 34)
            {
                break;
            }

            t[groupStart..j].CopyTo(chars[count..]);
            count += group;
            i = j;
            if (count >= 15 && BoundaryAfter(t, j) && Mod97(chars[..count]))
            {
                end = j;
            }

            if (group < 4)
            {
                break;
            }
        }

        return end > 0;
    }

    public static bool Mod97(ReadOnlySpan<byte> iban)
    {
        var remainder = 0;
        for (var k = 0; k < iban.Length; k++)
        {
            var b = iban[(k + 4) % iban.Length];
            remainder = IsDigit(b) ? (remainder * 10 + (b - '0')) % 97 : (remainder * 100 + ((b | 0x20) - 'a' + 10)) % 97;
        }

        return remainder == 1;
    }
}
