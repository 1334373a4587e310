using System.Text;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Refusals are delivered by the server itself: the refused message is replaced by a statement that
/// raises Gatehouse's error. The error then arrives in order with the responses to earlier pipelined
/// messages, an open transaction is aborted exactly as a server error would abort it, and the server
/// skips to the next Sync on its own. See docs/design/refusal-by-substitution.md.
/// </summary>
public static class DenialStatement
{
    private const string Tag = "$gatehouse_refusal$";

    public static string Sql(string sqlState, string message)
    {
        var escaped = new StringBuilder(message.Length + 8);
        foreach (char c in message)
        {
            // Keep the text a plain literal: quotes doubled, control characters and the dollar tag dropped.
            if (c == '\'')
            {
                escaped.Append("''");
            }
            else if (c >= ' ' && c != '$')
            {
                escaped.Append(c);
            }
        }

        return $"DO {Tag}BEGIN RAISE EXCEPTION USING ERRCODE = '{sqlState}', MESSAGE = '{escaped}'; END{Tag}";
    }

    /// <summary>A Query message carrying the refusal.</summary>
    public static byte[] QueryMessage(string sqlState, string message)
    {
        using var writer = new MessageWriter();
        FrontendMessages.WriteQuery(writer, Sql(sqlState, message));
        return writer.ToArray();
    }

    /// <summary>
    /// Parse, Bind and Execute of the refusal as the unnamed statement: sent in place of a refused Parse,
    /// so the error comes from Execute while the client's own messages up to Sync are dropped.
    /// The ParseComplete and BindComplete they cause are removed on the way back (<see cref="RefusalTracker"/>).
    /// </summary>
    public static byte[] ExtendedMessages(string sqlState, string message)
    {
        using var writer = new MessageWriter();
        writer.StartMessage((byte)FrontendMessageCode.Parse).WriteCString(string.Empty).WriteCString(Sql(sqlState, message)).WriteInt16(0).EndMessage();
        writer.StartMessage((byte)FrontendMessageCode.Bind).WriteCString(string.Empty).WriteCString(string.Empty).WriteInt16(0).WriteInt16(0).WriteInt16(0).EndMessage();
        writer.StartMessage((byte)FrontendMessageCode.Execute).WriteCString(string.Empty).WriteInt32(0).EndMessage();
        return writer.ToArray();
    }

    /// <summary>
    /// The server's error for a substituted statement carries a PL/pgSQL context the client should not see;
    /// rebuild it with the fields that matter.
    /// </summary>
    public static byte[] CleanError(ErrorFields fields)
    {
        using var writer = new MessageWriter();
        BackendMessages.WriteError(writer, fields);
        return writer.ToArray();
    }
}
