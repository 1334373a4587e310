using System.Buffers.Binary;

namespace Gatehouse.Proxy;

/// <summary>
/// Exact reads for the startup phase, before pipes take over: reading exactly one packet keeps
/// bytes that follow an SSLRequest from being swallowed into a buffer (CVE-2021-23214's lesson).
/// </summary>
internal static class StreamReads
{
    public static async ValueTask<bool> ReadExactlyOrEndAsync(Stream stream, Memory<byte> buffer, CancellationToken ct)
    {
        int read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
        return read == buffer.Length;
    }

    /// <summary>Reads one typed message (code, payload). Null on end of stream; throws <see cref="ProtocolException"/> on a bad length.</summary>
    public static async ValueTask<(byte Code, byte[] Payload)?> ReadTypedAsync(Stream stream, int maxPayload, CancellationToken ct)
    {
        var header = new byte[5];
        if (!await ReadExactlyOrEndAsync(stream, header, ct))
        {
            return null;
        }

        int length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1));
        if (length < 4 || length - 4 > maxPayload)
        {
            throw new ProtocolException($"invalid message length {length} for message type '{Printable(header[0])}'");
        }

        var payload = new byte[length - 4];
        if (!await ReadExactlyOrEndAsync(stream, payload, ct))
        {
            return null;
        }

        return (header[0], payload);
    }

    public static string Printable(byte code) => code is >= 0x20 and < 0x7f ? ((char)code).ToString() : $"0x{code:x2}";
}

/// <summary>A peer broke the protocol; the connection ends with 08P01.</summary>
public sealed class ProtocolException(string message) : Exception(message);
