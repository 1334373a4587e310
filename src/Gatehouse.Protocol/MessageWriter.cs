using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Gatehouse.Protocol;

/// <summary>
/// Builds protocol messages into a growable pooled buffer. Used for messages Gatehouse originates;
/// relayed messages are copied as raw bytes and never rebuilt.
/// </summary>
public sealed class MessageWriter : IDisposable
{
    private byte[] _buffer;
    private int _length;
    private int _messageStart = -1;

    public MessageWriter(int initialCapacity = 256)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);
    }

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    public byte[] ToArray() => WrittenSpan.ToArray();

    public void Reset()
    {
        _length = 0;
        _messageStart = -1;
    }

    /// <summary>Starts a typed message; its length is filled in by <see cref="EndMessage"/>.</summary>
    public MessageWriter StartMessage(byte code)
    {
        WriteByte(code);
        return StartUntypedMessage();
    }

    /// <summary>Starts a startup-phase message, which has no type byte.</summary>
    public MessageWriter StartUntypedMessage()
    {
        _messageStart = _length;
        WriteInt32(0);
        return this;
    }

    public MessageWriter EndMessage()
    {
        if (_messageStart < 0)
        {
            throw new InvalidOperationException("EndMessage without StartMessage.");
        }

        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_messageStart), _length - _messageStart);
        _messageStart = -1;
        return this;
    }

    public MessageWriter WriteByte(byte value)
    {
        Ensure(1)[0] = value;
        _length += 1;
        return this;
    }

    public MessageWriter WriteInt16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(Ensure(2), value);
        _length += 2;
        return this;
    }

    public MessageWriter WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(Ensure(4), value);
        _length += 4;
        return this;
    }

    public MessageWriter WriteBytes(ReadOnlySpan<byte> value)
    {
        value.CopyTo(Ensure(value.Length));
        _length += value.Length;
        return this;
    }

    /// <summary>Writes a UTF-8 string followed by NUL.</summary>
    public MessageWriter WriteCString(string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        int written = Encoding.UTF8.GetBytes(value, Ensure(max + 1));
        _length += written;
        return WriteByte(0);
    }

    private Span<byte> Ensure(int count)
    {
        if (_buffer.Length - _length < count)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + count));
            _buffer.AsSpan(0, _length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }

        return _buffer.AsSpan(_length);
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        _length = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
