using System.Buffers;
using System.Buffers.Binary;

namespace Gatehouse.Protocol;

/// <summary>Why a frame could not be read.</summary>
public enum FrameError
{
    None,
    /// <summary>The declared length is below the protocol minimum (4 bytes).</summary>
    LengthTooSmall,
    /// <summary>The declared length is above what this reader accepts.</summary>
    LengthTooLarge,
}

/// <summary>The header of one typed message: its code and payload length (the length field excluded).</summary>
public readonly record struct FrameHeader(byte Code, int PayloadLength)
{
    public const int Size = 5;

    public int TotalLength => Size + PayloadLength;
}

/// <summary>
/// Splits a byte stream into protocol frames without assuming whole frames arrive together.
/// Every method returns false on a partial frame and leaves the buffer untouched.
/// </summary>
public static class FrameReader
{
    /// <summary>PostgreSQL itself refuses startup packets above this size.</summary>
    public const int MaxStartupPacketLength = 10_000;

    /// <summary>Reads the 5-byte header of a typed message, without consuming it.</summary>
    public static bool TryReadHeader(in ReadOnlySequence<byte> buffer, int maxPayload, out FrameHeader header, out FrameError error)
    {
        if (buffer.FirstSpan.Length >= FrameHeader.Size || buffer.Length < FrameHeader.Size)
        {
            return TryReadHeader(buffer.FirstSpan, maxPayload, out header, out error);
        }

        Span<byte> raw = stackalloc byte[FrameHeader.Size];
        buffer.Slice(0, FrameHeader.Size).CopyTo(raw);
        return TryReadHeader(raw, maxPayload, out header, out error);
    }

    /// <summary>Reads the 5-byte header at the start of <paramref name="buffer"/>; false when fewer than 5 bytes or invalid.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> buffer, int maxPayload, out FrameHeader header, out FrameError error)
    {
        header = default;
        error = FrameError.None;
        if (buffer.Length < FrameHeader.Size)
        {
            return false;
        }

        var raw = buffer[..FrameHeader.Size];
        int length = BinaryPrimitives.ReadInt32BigEndian(raw[1..]);
        if (length < 4)
        {
            error = FrameError.LengthTooSmall;
            return false;
        }

        if (length - 4 > maxPayload)
        {
            error = FrameError.LengthTooLarge;
            return false;
        }

        header = new FrameHeader(raw[0], length - 4);
        return true;
    }

    /// <summary>Reads one whole typed message; on success <paramref name="buffer"/> is advanced past it.</summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, int maxPayload, out FrameHeader header, out ReadOnlySequence<byte> payload, out FrameError error)
    {
        payload = default;
        if (!TryReadHeader(buffer, maxPayload, out header, out error) || buffer.Length < header.TotalLength)
        {
            return false;
        }

        payload = buffer.Slice(FrameHeader.Size, header.PayloadLength);
        buffer = buffer.Slice(header.TotalLength);
        return true;
    }

    /// <summary>Reads one untyped startup-phase packet (StartupMessage, SSLRequest, CancelRequest, GSSENCRequest).</summary>
    public static bool TryReadStartup(ref ReadOnlySequence<byte> buffer, out int code, out ReadOnlySequence<byte> body, out FrameError error)
    {
        code = 0;
        body = default;
        error = FrameError.None;
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> raw = stackalloc byte[8];
        int length = ReadInt32(buffer, raw);
        if (length < 8)
        {
            error = FrameError.LengthTooSmall;
            return false;
        }

        if (length > MaxStartupPacketLength)
        {
            error = FrameError.LengthTooLarge;
            return false;
        }

        if (buffer.Length < length)
        {
            return false;
        }

        buffer.Slice(0, 8).CopyTo(raw);
        code = BinaryPrimitives.ReadInt32BigEndian(raw[4..]);
        body = buffer.Slice(8, length - 8);
        buffer = buffer.Slice(length);
        return true;
    }

    private static int ReadInt32(in ReadOnlySequence<byte> buffer, Span<byte> scratch)
    {
        buffer.Slice(0, 4).CopyTo(scratch);
        return BinaryPrimitives.ReadInt32BigEndian(scratch);
    }
}
