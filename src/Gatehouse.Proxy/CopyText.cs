using System.Buffers;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>The field encodings of COPY's text and CSV formats (PostgreSQL's copyto.c / copyfromparse.c).</summary>
internal static class CopyText
{
    /// <summary>A text-format field's value: \b \f \n \r \t \v, octal \ooo, hex \xhh, and \ before any other byte.</summary>
    public static void Unescape(ReadOnlySpan<byte> field, ArrayBufferWriter<byte> output)
    {
        output.ResetWrittenCount();
        var span = output.GetSpan(field.Length);
        int n = 0;
        for (int i = 0; i < field.Length; i++)
        {
            byte c = field[i];
            if (c != '\\' || i + 1 >= field.Length)
            {
                span[n++] = c;
                continue;
            }

            c = field[++i];
            if (c is >= (byte)'0' and <= (byte)'7')
            {
                int value = c - '0';
                for (int k = 0; k < 2 && i + 1 < field.Length && field[i + 1] is >= (byte)'0' and <= (byte)'7'; k++)
                {
                    value = value * 8 + (field[++i] - '0');
                }

                span[n++] = (byte)value;
            }
            else if (c == 'x' && i + 1 < field.Length && IsHex(field[i + 1]))
            {
                int value = Hex(field[++i]);
                if (i + 1 < field.Length && IsHex(field[i + 1]))
                {
                    value = value * 16 + Hex(field[++i]);
                }

                span[n++] = (byte)value;
            }
            else
            {
                span[n++] = c switch
                {
                    (byte)'b' => 8,
                    (byte)'f' => 12,
                    (byte)'n' => 10,
                    (byte)'r' => 13,
                    (byte)'t' => 9,
                    (byte)'v' => 11,
                    _ => c,
                };
            }
        }

        output.Advance(n);
    }

    /// <summary>A value as a text-format field, escaped as the server escapes it (control characters, backslash, the delimiter).</summary>
    public static void Escape(ReadOnlySpan<byte> value, byte delimiter, MessageWriter output)
    {
        int from = 0;
        for (int i = 0; i < value.Length; i++)
        {
            byte c = value[i];
            byte escaped = c switch
            {
                8 => (byte)'b',
                12 => (byte)'f',
                10 => (byte)'n',
                13 => (byte)'r',
                9 => (byte)'t',
                11 => (byte)'v',
                (byte)'\\' => (byte)'\\',
                _ => c == delimiter ? c : (byte)0,
            };
            if (escaped == 0)
            {
                continue;
            }

            output.WriteBytes(value[from..i]).WriteByte((byte)'\\').WriteByte(escaped);
            from = i + 1;
        }

        output.WriteBytes(value[from..]);
    }

    /// <summary>A CSV field's value: quoted stretches lose their quotes; inside them, the escape character before a quote or
    /// itself stands for that character (with escape = quote, a doubled quote is one).</summary>
    public static void UnquoteCsv(ReadOnlySpan<byte> field, byte quote, byte escape, ArrayBufferWriter<byte> output)
    {
        output.ResetWrittenCount();
        var span = output.GetSpan(field.Length);
        int n = 0;
        bool inQuote = false;
        for (int i = 0; i < field.Length; i++)
        {
            byte c = field[i];
            if (inQuote && c == escape && i + 1 < field.Length && (field[i + 1] == quote || field[i + 1] == escape) && (escape != quote || field[i + 1] == quote))
            {
                span[n++] = field[++i];
            }
            else if (c == quote)
            {
                inQuote = !inQuote;
            }
            else
            {
                span[n++] = c;
            }
        }

        output.Advance(n);
    }

    /// <summary>A value as a quoted CSV field (a quoted field is never NULL, even when empty).</summary>
    public static void QuoteCsv(ReadOnlySpan<byte> value, byte quote, byte escape, MessageWriter output)
    {
        output.WriteByte(quote);
        int from = 0;
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] == quote || value[i] == escape)
            {
                output.WriteBytes(value[from..i]).WriteByte(escape);
                from = i;
            }
        }

        output.WriteBytes(value[from..]).WriteByte(quote);
    }

    private static bool IsHex(byte c) => char.IsAsciiHexDigit((char)c);

    private static int Hex(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
