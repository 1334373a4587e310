using System.Buffers.Binary;

namespace Gatehouse.Protocol;

/// <summary>One column of a RowDescription: where it comes from (table OID and attribute number, 0 when it is not a
/// plain column reference), its type and its format (0 text, 1 binary; 0 in a statement Describe, where it is not known yet).</summary>
public readonly record struct ResultColumn(string Name, uint TableOid, short AttributeNumber, uint TypeOid, short Format);

/// <summary>Reads RowDescription payloads and walks DataRow payloads without copying.</summary>
public static class ResultMessages
{
    /// <summary>Parses a RowDescription payload; null when it is malformed.</summary>
    public static ResultColumn[]? ReadRowDescription(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        if (!reader.TryReadInt16(out var count) || count < 0)
        {
            return null;
        }

        var columns = new ResultColumn[count];
        for (int i = 0; i < count; i++)
        {
            if (!reader.TryReadCString(out var name) || !reader.TryReadInt32(out var table) || !reader.TryReadInt16(out var attribute)
                || !reader.TryReadInt32(out var type) || !reader.TryReadInt16(out _) || !reader.TryReadInt32(out _)
                || !reader.TryReadInt16(out var format))
            {
                return null;
            }

            columns[i] = new ResultColumn(name, (uint)table, attribute, (uint)type, format);
        }

        return reader.AtEnd ? columns : null;
    }

    /// <summary>
    /// Walks the fields of a DataRow payload: each call yields the next field (null: SQL NULL). False at the end,
    /// or with <paramref name="malformed"/> set when a length runs past the payload.
    /// </summary>
    public ref struct DataRowFields(ReadOnlySpan<byte> payload)
    {
        private readonly ReadOnlySpan<byte> _payload = payload;
        private int _position = 2;

        public readonly int Count => _payload.Length >= 2 ? BinaryPrimitives.ReadInt16BigEndian(_payload) : -1;

        public bool Next(out ReadOnlySpan<byte> value, out bool isNull, out bool malformed)
        {
            value = default;
            isNull = false;
            malformed = false;
            if (_position == _payload.Length)
            {
                return false;
            }

            if (_payload.Length - _position < 4)
            {
                malformed = true;
                return false;
            }

            int length = BinaryPrimitives.ReadInt32BigEndian(_payload[_position..]);
            _position += 4;
            if (length == -1)
            {
                isNull = true;
                return true;
            }

            if (length < 0 || length > _payload.Length - _position)
            {
                malformed = true;
                return false;
            }

            value = _payload.Slice(_position, length);
            _position += length;
            return true;
        }
    }

    /// <summary>Result-column format codes at the end of a Bind payload (portal, statement, parameters skipped); null when malformed.</summary>
    public static short[]? ReadBindResultFormats(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        if (!reader.TryReadCStringBytes(out _) || !reader.TryReadCStringBytes(out _) || !reader.TryReadInt16(out var parameterFormats)
            || parameterFormats < 0 || !reader.TryReadBytes(parameterFormats * 2, out _) || !reader.TryReadInt16(out var parameters) || parameters < 0)
        {
            return null;
        }

        for (int i = 0; i < parameters; i++)
        {
            if (!reader.TryReadInt32(out var length) || (length > 0 && !reader.TryReadBytes(length, out _)) || length < -1)
            {
                return null;
            }
        }

        if (!reader.TryReadInt16(out var resultFormats) || resultFormats < 0)
        {
            return null;
        }

        var formats = new short[resultFormats];
        for (int i = 0; i < resultFormats; i++)
        {
            if (!reader.TryReadInt16(out formats[i]))
            {
                return null;
            }
        }

        return reader.AtEnd ? formats : null;
    }

    /// <summary>
    /// A Bind's parameter values rendered for a record: text-format values as text, binary ones as <c>\x</c> hex, SQL
    /// NULL as null; each cut to <paramref name="maxChars"/> with a marker. Null when the message is malformed.
    /// </summary>
    public static string?[]? ReadBindParameters(ReadOnlySpan<byte> payload, int maxChars, System.Text.Encoding? text = null)
    {
        var reader = new PayloadReader(payload);
        if (!reader.TryReadCStringBytes(out _) || !reader.TryReadCStringBytes(out _) || !reader.TryReadInt16(out var formatCount) || formatCount < 0)
        {
            return null;
        }

        Span<short> formats = formatCount <= 64 ? stackalloc short[formatCount] : new short[formatCount];
        for (int i = 0; i < formatCount; i++)
        {
            if (!reader.TryReadInt16(out formats[i]))
            {
                return null;
            }
        }

        if (!reader.TryReadInt16(out var count) || count < 0)
        {
            return null;
        }

        var values = new string?[count];
        for (int i = 0; i < count; i++)
        {
            if (!reader.TryReadInt32(out var length) || length < -1)
            {
                return null;
            }

            if (length == -1)
            {
                continue;
            }

            if (!reader.TryReadBytes(length, out var value))
            {
                return null;
            }

            short format = formatCount == 0 ? (short)0 : formatCount == 1 ? formats[0] : i < formatCount ? formats[i] : (short)0;
            values[i] = RenderValue(value, format, maxChars, text);
        }

        return values;
    }

    /// <summary>A value for a record: text format as text (in <paramref name="encoding"/>, UTF-8 by default), binary as
    /// <c>\x</c> hex; cut to <paramref name="maxChars"/> with a marker.</summary>
    public static string RenderValue(ReadOnlySpan<byte> value, short format, int maxChars, System.Text.Encoding? encoding = null)
    {
        if (format == 0 && TryDecode(value.Length > maxChars * 4 ? value[..(maxChars * 4)] : value, encoding, out var text))
        {
            return text.Length <= maxChars && value.Length <= maxChars * 4 ? text : string.Concat(text.AsSpan(0, Math.Min(text.Length, maxChars)), $"… [{value.Length} bytes]");
        }

        // Binary, or text that is not valid in a strict client encoding (the server refuses it): its bytes.
        int shown = Math.Min(value.Length, maxChars / 2);
        var hex = "\\x" + Convert.ToHexStringLower(value[..shown]);
        return shown == value.Length ? hex : hex + $"… [{value.Length} bytes]";
    }

    private static bool TryDecode(ReadOnlySpan<byte> value, System.Text.Encoding? encoding, out string text)
    {
        try
        {
            text = (encoding ?? System.Text.Encoding.UTF8).GetString(value);
            return true;
        }
        catch (System.Text.DecoderFallbackException)
        {
            text = "";
            return false;
        }
    }

    /// <summary>The format of column <paramref name="index"/> under Bind's result-format rule: none → text, one → all, else per column.</summary>
    public static short FormatOf(short[]? formats, int index) =>
        formats is null || formats.Length == 0 ? (short)0 : formats.Length == 1 ? formats[0] : index < formats.Length ? formats[index] : (short)0;
}
