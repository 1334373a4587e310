using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Gatehouse.Masking;

[Flags]
internal enum UnitFlags : byte
{
    None = 0,
    Letter = 1,
    Digit = 2,
    Upper = 4,
    /// <summary>Whitespace and ASCII punctuation: kept by last4.</summary>
    Separator = 8,
    Mark = 16,
    NonAscii = 32,
    Alnum = Letter | Digit,
}

/// <summary>
/// The characters masks count: a Unicode scalar together with the combining marks (Mn, Mc, Me) that follow it, so
/// <c>e</c> + U+0301 is one character, as <c>é</c> is. In byte mode (input that is not valid UTF-8) every byte is a
/// character, and a non-ASCII byte is a letter that masks never copy.
/// </summary>
internal static class TextUnits
{
    private static readonly UnitFlags[] Ascii = BuildAscii();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static UnitFlags OfAscii(byte b) => Ascii[b];

    /// <summary>Reads the character at <paramref name="pos"/>: its length in bytes and its base scalar's flags.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Read(ReadOnlySpan<byte> text, int pos, bool byteMode, out UnitFlags flags)
    {
        var b = text[pos];
        if (b < 0x80)
        {
            flags = Ascii[b];
            return pos + 1 == text.Length || text[pos + 1] < 0x80 || byteMode ? 1 : 1 + MarksAt(text, pos + 1);
        }

        if (byteMode)
        {
            flags = UnitFlags.Letter | UnitFlags.NonAscii;
            return 1;
        }

        return ReadNonAscii(text, pos, out flags);
    }

    /// <summary>The start of the character that ends at <paramref name="end"/>, and its flags.</summary>
    public static int ReadBack(ReadOnlySpan<byte> text, int end, bool byteMode, out UnitFlags flags)
    {
        var b = text[end - 1];
        if (b < 0x80 || byteMode)
        {
            flags = b < 0x80 ? Ascii[b] : UnitFlags.Letter | UnitFlags.NonAscii;
            return end - 1;
        }

        var start = end;
        while (start > 0)
        {
            Rune.DecodeLastFromUtf8(text[..start], out var rune, out var n);
            start -= n;
            flags = Classify(rune);
            if ((flags & UnitFlags.Mark) == 0)
            {
                return start;
            }
        }

        flags = UnitFlags.None;
        return 0;
    }

    /// <summary>How many characters <paramref name="text"/> holds.</summary>
    public static int Count(ReadOnlySpan<byte> text, bool byteMode)
    {
        if (byteMode || System.Text.Ascii.IsValid(text))
        {
            return text.Length;
        }

        var count = 0;
        for (var pos = 0; pos < text.Length; count++)
        {
            pos += Read(text, pos, false, out _);
        }

        return count;
    }

    private static int ReadNonAscii(ReadOnlySpan<byte> text, int pos, out UnitFlags flags)
    {
        Rune.DecodeFromUtf8(text[pos..], out var rune, out var n);
        flags = Classify(rune);
        if ((flags & UnitFlags.Mark) != 0)
        {
            // A mark with no base: a character of its own, which no mask keeps as a letter or separator.
            flags = UnitFlags.NonAscii;
        }

        return pos + n < text.Length && text[pos + n] >= 0x80 ? n + MarksAt(text, pos + n) : n;
    }

    private static int MarksAt(ReadOnlySpan<byte> text, int pos)
    {
        var length = 0;
        while (pos + length < text.Length && text[pos + length] >= 0x80)
        {
            Rune.DecodeFromUtf8(text[(pos + length)..], out var rune, out var n);
            if ((Classify(rune) & UnitFlags.Mark) == 0)
            {
                break;
            }

            length += n;
        }

        return length;
    }

    private static UnitFlags Classify(Rune rune) => rune.IsAscii ? Ascii[rune.Value] : Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.TitlecaseLetter => UnitFlags.Letter | UnitFlags.Upper | UnitFlags.NonAscii,
        UnicodeCategory.LowercaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => UnitFlags.Letter | UnitFlags.NonAscii,
        UnicodeCategory.DecimalDigitNumber => UnitFlags.Digit | UnitFlags.NonAscii,
        UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => UnitFlags.Mark | UnitFlags.NonAscii,
        UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => UnitFlags.Separator | UnitFlags.NonAscii,
        _ => UnitFlags.NonAscii,
    };

    private static UnitFlags[] BuildAscii()
    {
        var table = new UnitFlags[256];
        for (var c = 0; c < 128; c++)
        {
            table[c] = c switch
            {
                >= 'A' and <= 'Z' => UnitFlags.Letter | UnitFlags.Upper,
                >= 'a' and <= 'z' => UnitFlags.Letter,
                >= '0' and <= '9' => UnitFlags.Digit,
                ' ' or '\t' or '\n' or '\r' => UnitFlags.Separator,
                > ' ' and < 0x7F => UnitFlags.Separator,
                _ => UnitFlags.None,
            };
        }

        for (var c = 128; c < 256; c++)
        {
            table[c] = UnitFlags.Letter | UnitFlags.NonAscii;
        }

        return table;
    }
}
