using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Refusals are delivered by the server itself, so they arrive in order with the responses to earlier pipelined
/// messages, abort an open transaction exactly as a server error does, and make the server skip to the next Sync.
/// The refused message is replaced by one fixed text that fails to parse; no client-controlled byte is ever sent
/// to the server as SQL, so a refusal cannot be turned into an injection whatever the session's lexing settings.
/// On the way back, the server's syntax error for that text is replaced by Gatehouse's own ErrorResponse
/// (<see cref="RefusalTracker"/> pairs them). See docs/design/refusal-by-substitution.md.
/// </summary>
public static class RefusalStatement
{
    /// <summary>A bare word is a syntax error in every PostgreSQL version and session state; it needs no privilege.</summary>
    public const string Sql = "gatehouse_refusal";

    /// <summary>A Query message carrying the refusal text (replaces a refused Query or FunctionCall).</summary>
    public static ReadOnlyMemory<byte> QueryMessage { get; } = Build(static w => FrontendMessages.WriteQuery(w, Sql));

    /// <summary>
    /// Parse of the refusal text as the unnamed statement (replaces a refused Parse; the client's messages up to
    /// Sync are dropped). It fails at Parse, as a client's own syntax error would.
    /// </summary>
    public static ReadOnlyMemory<byte> ParseMessage { get; } = Build(static w =>
        w.StartMessage((byte)FrontendMessageCode.Parse).WriteCString(string.Empty).WriteCString(Sql).WriteInt16(0).EndMessage());

    /// <summary>True when an ErrorResponse is the server's answer to the refusal text.</summary>
    public static bool IsAnswer(ErrorFields error) =>
        error.SqlState == SqlStates.SyntaxError && error.Message.Contains("\"" + Sql + "\"", StringComparison.Ordinal);

    /// <summary>The error the client sees instead.</summary>
    public static byte[] ClientError(string sqlState, string message, int? position = null)
    {
        if (position is not { } p)
            return BackendMessages.Error(sqlState, message);
        // A syntax error's position ('P'), so clients point at it (psql's "LINE 1: … ^").
        using var writer = new MessageWriter();
        writer.StartMessage((byte)BackendMessageCode.ErrorResponse);
        writer.WriteByte((byte)'S').WriteCString("ERROR").WriteByte((byte)'V').WriteCString("ERROR");
        writer.WriteByte((byte)'C').WriteCString(sqlState).WriteByte((byte)'M').WriteCString(message);
        writer.WriteByte((byte)'P').WriteCString(p.ToString(System.Globalization.CultureInfo.InvariantCulture));
        writer.WriteByte(0).EndMessage();
        return writer.ToArray();
    }

    /// <summary>A Query or Parse above limits.max_message_bytes: refused unread (54000, program limit exceeded).</summary>
    public static Refusal MessageTooLarge(long bytes, int limit) =>
        new(RefusalKind.SessionGuard, "54000", $"gatehouse: message of {bytes} bytes exceeds limits.max_message_bytes ({limit})");

    private static byte[] Build(Action<MessageWriter> write)
    {
        using var writer = new MessageWriter();
        write(writer);
        return writer.ToArray();
    }
}
