using System.Buffers.Binary;
using System.Text;

namespace Gatehouse.Protocol;

/// <summary>
/// Reads fields of one message payload. Every method reports truncation instead of throwing,
/// because payloads come from untrusted peers.
/// </summary>
public ref struct PayloadReader(ReadOnlySpan<byte> payload)
{
    private readonly ReadOnlySpan<byte> _payload = payload;
    private int _position;

    public readonly int Remaining => _payload.Length - _position;

    public readonly bool AtEnd => _position == _payload.Length;

    public bool TryReadByte(out byte value)
    {
        value = 0;
        if (Remaining < 1)
        {
            return false;
        }

        value = _payload[_position++];
        return true;
    }

    public bool TryReadInt16(out short value)
    {
        value = 0;
        if (Remaining < 2)
        {
            return false;
        }

        value = BinaryPrimitives.ReadInt16BigEndian(_payload[_position..]);
        _position += 2;
        return true;
    }

    public bool TryReadInt32(out int value)
    {
        value = 0;
        if (Remaining < 4)
        {
            return false;
        }

        value = BinaryPrimitives.ReadInt32BigEndian(_payload[_position..]);
        _position += 4;
        return true;
    }

    /// <summary>Reads a NUL-terminated UTF-8 string.</summary>
    public bool TryReadCString(out string value)
    {
        value = string.Empty;
        if (!TryReadCStringBytes(out var bytes))
        {
            return false;
        }

        value = Encoding.UTF8.GetString(bytes);
        return true;
    }

    public bool TryReadCStringBytes(out ReadOnlySpan<byte> value)
    {
        value = default;
        int end = _payload[_position..].IndexOf((byte)0);
        if (end < 0)
        {
            return false;
        }

        value = _payload.Slice(_position, end);
        _position += end + 1;
        return true;
    }

    public bool TryReadBytes(int count, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (count < 0 || Remaining < count)
        {
            return false;
        }

        value = _payload.Slice(_position, count);
        _position += count;
        return true;
    }

    public readonly ReadOnlySpan<byte> Rest => _payload[_position..];
}
