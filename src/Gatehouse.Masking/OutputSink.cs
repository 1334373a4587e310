using System.Buffers;
using System.Runtime.CompilerServices;

namespace Gatehouse.Masking;

/// <summary>
/// Appends to an <see cref="IBufferWriter{T}"/> in bounded pieces (at most <see cref="ChunkBytes"/> are requested at
/// once, so a 100 MB output never needs one 100 MB span), counting what it wrote. With <see cref="JsonEscape"/>,
/// every byte written is escaped as the inside of a JSON string. <see cref="Complete"/> must end every use.
/// </summary>
internal ref struct OutputSink
{
    public const int ChunkBytes = 16 * 1024;

    private static readonly SearchValues<byte> JsonSpecial = SearchValues.Create(
        [(byte)'"', (byte)'\\', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);

    private readonly IBufferWriter<byte> _writer;
    private Span<byte> _span;
    private int _used;
    private int _hint;

    public OutputSink(IBufferWriter<byte> writer, int sizeHint)
    {
        _writer = writer;
        _hint = Math.Clamp(sizeHint, 16, ChunkBytes);
        _span = default;
        _used = 0;
        Written = 0;
        JsonEscape = false;
    }

    /// <summary>Bytes written so far (escapes included).</summary>
    public int Written { get; private set; }

    public bool JsonEscape { get; set; }

    public void Write(scoped ReadOnlySpan<byte> bytes)
    {
        if (JsonEscape)
        {
            WriteEscaped(bytes);
            return;
        }

        WriteRaw(bytes);
    }

    public void WriteByte(byte b)
    {
        if (JsonEscape && (b < 0x20 || b is (byte)'"' or (byte)'\\'))
        {
            WriteEscaped([b]);
            return;
        }

        Ensure(1);
        _span[_used++] = b;
        Written++;
    }

    /// <summary>Writes <paramref name="b"/> (never a byte JSON would escape) <paramref name="count"/> times.</summary>
    public void Fill(byte b, int count)
    {
        while (count > 0)
        {
            Ensure(1);
            var n = Math.Min(count, _span.Length - _used);
            _span.Slice(_used, n).Fill(b);
            _used += n;
            Written += n;
            count -= n;
        }
    }

    /// <summary>Writes bytes as they are, even in <see cref="JsonEscape"/> mode (the quotes around a JSON string).</summary>
    public void WriteRaw(scoped ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            Ensure(1);
            var n = Math.Min(bytes.Length, _span.Length - _used);
            bytes[..n].CopyTo(_span[_used..]);
            _used += n;
            Written += n;
            bytes = bytes[n..];
        }
    }

    /// <summary>
    /// The next <paramref name="count"/> bytes of output to fill directly (at most <see cref="ChunkBytes"/>; not in
    /// <see cref="JsonEscape"/> mode, whose bytes need escaping): counted as written at once.
    /// </summary>
    public Span<byte> Reserve(int count)
    {
        if (count > ChunkBytes || JsonEscape)
        {
            throw new InvalidOperationException("reserve at most one chunk, and never while escaping");
        }

        Ensure(count);
        var reserved = _span.Slice(_used, count);
        _used += count;
        Written += count;
        return reserved;
    }

    /// <summary>Hands what is written to the writer; returns the total.</summary>
    public int Complete()
    {
        if (_used > 0)
        {
            _writer.Advance(_used);
            _used = 0;
        }

        _span = default;
        return Written;
    }

    private void WriteEscaped(scoped ReadOnlySpan<byte> bytes)
    {
        Span<byte> u = stackalloc byte[6];
        "\\u00"u8.CopyTo(u);
        while (!bytes.IsEmpty)
        {
            var i = bytes.IndexOfAny(JsonSpecial);
            if (i < 0)
            {
                WriteRaw(bytes);
                return;
            }

            WriteRaw(bytes[..i]);
            var b = bytes[i];
            ReadOnlySpan<byte> escape = b switch
            {
                (byte)'"' => "\\\""u8,
                (byte)'\\' => "\\\\"u8,
                (byte)'\n' => "\\n"u8,
                (byte)'\r' => "\\r"u8,
                (byte)'\t' => "\\t"u8,
                _ => default,
            };
            if (escape.IsEmpty)
            {
                u[4] = Hex.Digits[b >> 4];
                u[5] = Hex.Digits[b & 0xF];
                WriteRaw(u);
            }
            else
            {
                WriteRaw(escape);
            }

            bytes = bytes[(i + 1)..];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Ensure(int bytes)
    {
        if (_span.Length - _used < bytes)
        {
            Grow(bytes);
        }
    }

    private void Grow(int bytes)
    {
        if (_used > 0)
        {
            _writer.Advance(_used);
            _used = 0;
        }

        _span = _writer.GetSpan(Math.Max(bytes, _hint));
        _hint = ChunkBytes;
    }
}

internal static class Hex
{
    public static ReadOnlySpan<byte> Digits => "0123456789abcdef"u8;

    public static void Encode(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            destination[2 * i] = Digits[bytes[i] >> 4];
            destination[2 * i + 1] = Digits[bytes[i] & 0xF];
        }
    }
}
