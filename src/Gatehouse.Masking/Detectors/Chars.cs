using System.Runtime.CompilerServices;

namespace Gatehouse.Masking.Detectors;

/// <summary>
/// Byte classes and boundaries shared by the detectors. A match starts and ends at ASCII bytes, so splicing a
/// replacement never splits a UTF-8 sequence. A boundary is any byte that is not an ASCII letter or digit (non-ASCII
/// bytes included), and also a JSON escape (<c>\n</c>, <c>\t</c>…, <c>\uXXXX</c>): <c>\n4111…</c> inside a JSON string starts a number.
/// </summary>
internal static class Chars
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsDigit(byte b) => (uint)(b - '0') < 10;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsLetter(byte b) => (uint)((b | 0x20) - 'a') < 26;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsAlnum(byte b) => IsDigit(b) || IsLetter(b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsUpperOrDigit(byte b) => IsDigit(b) || (uint)(b - 'A') < 26;

    /// <summary>The base64url alphabet (JWT segments, token bodies).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsBase64Url(byte b) => IsAlnum(b) || b is (byte)'-' or (byte)'_';

    public static bool BoundaryBefore(ReadOnlySpan<byte> t, int start)
    {
        if (start == 0 || !IsAlnum(t[start - 1]))
        {
            return true;
        }

        return (start >= 2 && t[start - 2] == '\\' && t[start - 1] is (byte)'n' or (byte)'r' or (byte)'t' or (byte)'b' or (byte)'f')
            || (start >= 6 && IsUnicodeEscape(t, start - 6));
    }

    /// <summary>A JSON <c>\uXXXX</c> escape starts at <paramref name="index"/> (its backslash not itself escaped).</summary>
    public static bool IsUnicodeEscape(ReadOnlySpan<byte> t, int index) =>
        index >= 0 && index + 6 <= t.Length && t[index] == '\\' && t[index + 1] == 'u' && IsHex(t[index + 2]) && IsHex(t[index + 3])
        && IsHex(t[index + 4]) && IsHex(t[index + 5]) && !IsEscaped(t, index);

    /// <summary>The end of a <c>\uXXXX</c> escape that covers <paramref name="index"/>, or -1.</summary>
    public static int UnicodeEscapeEnd(ReadOnlySpan<byte> t, int index)
    {
        var from = Math.Max(0, index - 5);
        if (t[from..index].IndexOf((byte)'\\') < 0)
        {
            return -1;
        }

        for (var k = from; k < index; k++)
        {
            if (IsUnicodeEscape(t, k))
            {
                return k + 6;
            }
        }

        return -1;
    }

    /// <summary>The character a <c>\uXXXX</c> escape at <paramref name="index"/> stands for (ASCII only, else 0).</summary>
    public static byte UnicodeEscapeValue(ReadOnlySpan<byte> t, int index)
    {
        var value = 0;
        for (var k = index + 2; k < index + 6; k++)
        {
            var b = t[k];
            value = value * 16 + (IsDigit(b) ? b - '0' : (b | 0x20) - 'a' + 10);
        }

        return value < 0x80 ? (byte)value : (byte)0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsHex(byte b) => IsDigit(b) || (uint)((b | 0x20) - 'a') < 6;

    /// <summary>A boundary for tokens whose alphabet is base64url: <c>_</c> and <c>-</c> continue the token.</summary>
    public static bool TokenBoundaryBefore(ReadOnlySpan<byte> t, int start) =>
        BoundaryBefore(t, start) && (start == 0 || t[start - 1] is not ((byte)'_' or (byte)'-'));

    public static bool BoundaryAfter(ReadOnlySpan<byte> t, int end) => end == t.Length || !IsAlnum(t[end]);

    /// <summary>The byte at <paramref name="index"/> follows an odd run of backslashes: it is escaped in JSON or an
    /// array/composite literal, so a match may not start there.</summary>
    public static bool IsEscaped(ReadOnlySpan<byte> t, int index)
    {
        var run = 0;
        while (index - run - 1 >= 0 && t[index - run - 1] == '\\')
        {
            run++;
        }

        return (run & 1) == 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool At(ReadOnlySpan<byte> t, int index, ReadOnlySpan<byte> literal) =>
        index >= 0 && index <= t.Length - literal.Length && t.Slice(index, literal.Length).SequenceEqual(literal);
}
