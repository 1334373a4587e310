using System.Buffers.Text;
using System.Text;
using System.Text.Unicode;

namespace Gatehouse.Masking;

/// <summary>
/// The strategies on a text value (UTF-8, or any ASCII-compatible encoding, which is masked byte by byte when it is
/// not valid UTF-8). One forward pass over the input (two for last4 and partial: one to count), O(1) extra memory,
/// output in bounded pieces: a value of any size costs its output and nothing else.
/// </summary>
internal static class TextMasks
{
    public const int HashHexDigits = 16;

    public static ReadOnlySpan<byte> RedactMarker => "[redacted]"u8;

    /// <summary>Writes the mask of <paramref name="value"/>; <see cref="MaskKind.Null"/> is the caller's.</summary>
    public static MaskNote Apply(ReadOnlySpan<byte> value, MaskStrategy strategy, MaskKeys keys, ref OutputSink sink)
    {
        switch (strategy.Kind)
        {
            case MaskKind.Redact:
                sink.Write(RedactMarker);
                return MaskNote.None;
            case MaskKind.Hash:
                WriteHash(value, keys, ref sink);
                return MaskNote.None;
        }

        var byteMode = !Utf8.IsValid(value);
        var note = strategy.Kind switch
        {
            MaskKind.Email => Email(value, byteMode, ref sink),
            MaskKind.Last4 => Last4(value, byteMode, ref sink),
            MaskKind.Partial => Partial(value, strategy, byteMode, ref sink),
            MaskKind.Fake => Fake(value, byteMode, keys, ref sink),
            _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy.Kind, "no text form"),
        };
        return note == MaskNote.None && byteMode ? MaskNote.InvalidUtf8 : note;
    }

    /// <summary>An upper bound on what <see cref="Apply"/> writes before JSON escaping, for the first buffer request.</summary>
    public static int SizeHint(ReadOnlySpan<byte> value, MaskStrategy strategy) => strategy.Kind switch
    {
        MaskKind.Redact => RedactMarker.Length,
        MaskKind.Hash => 2 + HashHexDigits,
        MaskKind.Email => Math.Max(value.Length + 3, RedactMarker.Length),
        MaskKind.Fake => Math.Max(value.Length, FakeEmailLength),
        _ => value.Length,
    };

    public static void WriteHash(ReadOnlySpan<byte> value, MaskKeys keys, ref OutputSink sink)
    {
        Span<byte> mac = stackalloc byte[KeyedHash.Size];
        keys.Hash.Compute(value, mac);
        Span<byte> text = stackalloc byte[2 + HashHexDigits];
        "h:"u8.CopyTo(text);
        Hex.Encode(mac[..(HashHexDigits / 2)], text[2..]);
        sink.Write(text);
    }

    /// <summary>
    /// Address syntax as masks and fakes understand it: a local part of 1–64 bytes and a domain of two or more
    /// labels (letters, digits, hyphens; non-ASCII only in valid UTF-8, as the domain is copied) whose last is two or more letters (or
    /// <c>xn--…</c>), no whitespace or control characters, at most 320 bytes. <paramref name="at"/>: the last @.
    /// </summary>
    public static bool IsEmail(ReadOnlySpan<byte> value, bool byteMode, out int at)
    {
        at = value.LastIndexOf((byte)'@');
        if (value.Length > 320 || at < 1 || at > 64 || value.Length - at - 1 is < 4 or > 255)
        {
            return false;
        }

        foreach (var b in value[..at])
        {
            if (b <= 0x20 || b == 0x7F)
            {
                return false;
            }
        }

        var domain = value[(at + 1)..];
        var labels = 0;
        var labelStart = 0;
        for (var i = 0; i <= domain.Length; i++)
        {
            if (i < domain.Length && domain[i] != '.')
            {
                var b = domain[i];
                if (!(char.IsAsciiLetterOrDigit((char)b) || b == '-' || (b >= 0x80 && !byteMode)))
                {
                    return false;
                }

                continue;
            }

            if (i == labelStart || i - labelStart > 63)
            {
                return false;
            }

            labels++;
            if (i == domain.Length)
            {
                var tld = domain[labelStart..];
                if (labels < 2 || !(tld.StartsWith("xn--"u8) || IsTld(tld)))
                {
                    return false;
                }
            }

            labelStart = i + 1;
        }

        return true;

        static bool IsTld(ReadOnlySpan<byte> label)
        {
            if (label.Length < 2)
            {
                return false;
            }

            foreach (var b in label)
            {
                if (!char.IsAsciiLetter((char)b) && b < 0x80)
                {
                    return false;
                }
            }

            return true;
        }
    }

    private static MaskNote Email(ReadOnlySpan<byte> value, bool byteMode, ref OutputSink sink)
    {
        if (!IsEmail(value, byteMode, out var at))
        {
            sink.Write(RedactMarker);
            return MaskNote.Redacted;
        }

        var first = TextUnits.Read(value, 0, byteMode, out var flags);
        if ((flags & UnitFlags.Alnum) != 0 && !(byteMode && (flags & UnitFlags.NonAscii) != 0) && first <= at)
        {
            sink.Write(value[..first]);
        }
        else
        {
            sink.WriteByte((byte)'*');
        }

        sink.Write("***@"u8);
        sink.Write(value[(at + 1)..]);
        return MaskNote.None;
    }

    private static MaskNote Last4(ReadOnlySpan<byte> value, bool byteMode, ref OutputSink sink)
    {
        if (!byteMode && !sink.JsonEscape && value.Length <= OutputSink.ChunkBytes && Ascii.IsValid(value))
        {
            Last4Ascii(value, sink.Reserve(value.Length));
            return MaskNote.None;
        }

        // The cut: where the fourth letter-or-digit from the end starts. With fewer than five letters or digits,
        // showing four would show all of them: then every character is masked.
        var cut = -1;
        var seen = 0;
        for (var end = value.Length; end > 0 && seen < 5;)
        {
            var start = TextUnits.ReadBack(value, end, byteMode, out var flags);
            if ((flags & UnitFlags.Alnum) != 0 && ++seen == 4)
            {
                cut = start;
            }

            end = start;
        }

        if (seen < 5)
        {
            sink.Fill((byte)'*', TextUnits.Count(value, byteMode));
            return MaskNote.None;
        }

        for (var pos = 0; pos < value.Length;)
        {
            var n = TextUnits.Read(value, pos, byteMode, out var flags);
            var keep = (flags & UnitFlags.Separator) != 0 || (pos >= cut && (flags & UnitFlags.Alnum) != 0);
            if (keep && !(byteMode && (flags & UnitFlags.NonAscii) != 0))
            {
                if (n == 1)
                {
                    sink.WriteByte(value[pos]);
                }
                else
                {
                    sink.Write(value.Slice(pos, n));
                }
            }
            else
            {
                sink.WriteByte((byte)'*');
            }

            pos += n;
        }

        return MaskNote.None;
    }

    /// <summary><see cref="Last4"/> for ASCII (one byte, one character), into a span of the value's length.</summary>
    private static void Last4Ascii(ReadOnlySpan<byte> value, Span<byte> output)
    {
        var cut = -1;
        var seen = 0;
        for (var i = value.Length - 1; i >= 0 && seen < 5; i--)
        {
            if ((TextUnits.OfAscii(value[i]) & UnitFlags.Alnum) != 0 && ++seen == 4)
            {
                cut = i;
            }
        }

        if (seen < 5)
        {
            output.Fill((byte)'*');
            return;
        }

        for (var i = 0; i < value.Length; i++)
        {
            var flags = TextUnits.OfAscii(value[i]);
            output[i] = (flags & UnitFlags.Separator) != 0 || (i >= cut && (flags & UnitFlags.Alnum) != 0) ? value[i] : (byte)'*';
        }
    }

    private static MaskNote Partial(ReadOnlySpan<byte> value, MaskStrategy strategy, bool byteMode, ref OutputSink sink)
    {
        var fill = (byte)strategy.Fill;
        var (first, last) = (strategy.KeepFirst, strategy.KeepLast);
        if (!byteMode && Ascii.IsValid(value))
        {
            if (value.Length <= first + last)
            {
                sink.Fill(fill, value.Length);
            }
            else
            {
                sink.Write(value[..first]);
                sink.Fill(fill, value.Length - first - last);
                sink.Write(value[^last..]);
            }

            return MaskNote.None;
        }

        var count = TextUnits.Count(value, byteMode);
        if (count <= first + last)
        {
            sink.Fill(fill, count);
            return MaskNote.None;
        }

        var index = 0;
        for (var pos = 0; pos < value.Length; index++)
        {
            var n = TextUnits.Read(value, pos, byteMode, out var flags);
            if ((index < first || index >= count - last) && !(byteMode && (flags & UnitFlags.NonAscii) != 0))
            {
                sink.Write(value.Slice(pos, n));
            }
            else
            {
                sink.WriteByte(fill);
            }

            pos += n;
        }

        return MaskNote.None;
    }

    private const int FakeEmailHexDigits = 10;

    private static int FakeEmailLength => "user_".Length + FakeEmailHexDigits + "@example.invalid".Length;

    private static MaskNote Fake(ReadOnlySpan<byte> value, bool byteMode, MaskKeys keys, ref OutputSink sink)
    {
        Span<byte> seed = stackalloc byte[KeyedHash.Size];
        keys.Fake.Compute(value, seed);
        if (IsEmail(value, byteMode, out _))
        {
            Span<byte> fake = stackalloc byte[FakeEmailLength];
            "user_"u8.CopyTo(fake);
            Hex.Encode(seed[..(FakeEmailHexDigits / 2)], fake[5..]);
            "@example.invalid"u8.CopyTo(fake[(5 + FakeEmailHexDigits)..]);
            sink.Write(fake);
            return MaskNote.None;
        }

        var stream = new FakeStream(seed);
        for (var pos = 0; pos < value.Length;)
        {
            var n = TextUnits.Read(value, pos, byteMode, out var flags);
            if ((flags & UnitFlags.Digit) != 0)
            {
                sink.WriteByte(stream.Digit());
            }
            else if ((flags & UnitFlags.Letter) != 0)
            {
                sink.WriteByte((flags & UnitFlags.Upper) != 0 ? stream.Upper() : stream.Lower());
            }
            else if (n == 1)
            {
                sink.WriteByte(value[pos]);
            }
            else
            {
                sink.Write(value.Slice(pos, n));
            }

            pos += n;
        }

        return MaskNote.None;
    }
}

/// <summary>The keys the keyed strategies use, derived from the masker's key.</summary>
internal sealed class MaskKeys(ReadOnlySpan<byte> key)
{
    public KeyedHash Hash { get; } = KeyedHash.Derive(key, "gatehouse mask hash v1"u8);

    public KeyedHash Fake { get; } = KeyedHash.Derive(key, "gatehouse mask fake v1"u8);
}
