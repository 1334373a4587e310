using System.Text;
using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Reading the client's bytes as the server reads them: SQL text in the client encoding, and names as the server keys them.
/// </summary>
internal sealed partial class ClientToServerPump
{
    // Requests sent before the last one that runs a statement that may change client_encoding (a Query, or the Sync
    // after an Execute); -1: none. Settled once a ReadyForQuery after it found no transaction open (the limit watch
    // pairs each ReadyForQuery with its request, so an earlier request's answer does not settle it).
    private long _encodingChangedAt = -1;

    private void NoteEncodingChange(StatementTicket ticket)
    {
        if (ticket.ChangesClientEncoding)
        {
            _encodingChangedAt = limits!.SentCount;
        }
    }

    private bool ClientEncodingUnsettled => _encodingChangedAt >= 0 && !limits!.EndedTransactionAfter(_encodingChangedAt);

    // SQL text as the server reads it, in the client encoding; null while that may be changing and the text is not
    // ASCII, or when it is not valid in the client encoding.
    private string? ClientText(ReadOnlySpan<byte> bytes)
    {
        if (ClientEncodingUnsettled && bytes.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0)
        {
            return null;
        }

        try
        {
            return pipeline!.ClientText.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null; // not text in the client encoding: the server would refuse it too
        }
    }

    private static ReadOnlySpan<byte> ReadCStringBytes(ReadOnlySpan<byte> bytes, out int consumed)
    {
        int terminator = bytes.IndexOf((byte)0);
        if (terminator < 0)
        {
            throw new ProtocolException("string in message is not terminated");
        }

        consumed = terminator + 1;
        return bytes[..terminator];
    }

    /// <summary>PostgreSQL keys prepared statements and portals by their first 63 bytes (NAMEDATALEN - 1).</summary>
    public const int MaxNameBytes = 63;

    // The name as the server keys it, so that two names the server takes for one are one here too (a Parse of a long
    // name, then a Bind of another with the same first 63 bytes, ran the first statement under the second's decision).
    // A name with a non-ASCII byte is refused: its bytes on the server depend on the encoding conversion.
    private static bool TryServerName(ReadOnlySpan<byte> raw, out string name)
    {
        if (raw.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0)
        {
            name = "";
            return false;
        }

        name = Encoding.ASCII.GetString(raw[..Math.Min(raw.Length, MaxNameBytes)]);
        return true;
    }
}
