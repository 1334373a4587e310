using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Refusals are delivered by the server itself, so they arrive in order with the responses to earlier pipelined
/// messages, abort an open transaction exactly as a server error does, and make the server skip to the next Sync.
/// The refused message is replaced by one fixed text that fails to parse; no client-controlled byte is ever sent
/// to the server as SQL, so a refusal cannot be turned into an injection whatever the session's lexing settings.
/// On the way back, the server's syntax error for that text is replaced by Gatehouse's own ErrorResponse
/// (<see cref="StatementLedger"/> pairs them). See docs/design/refusal-by-substitution.md.
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

    /// <summary>
    /// Close of a prepared statement no client can create (<see cref="IsReserved"/>): the server answers
    /// CloseComplete and changes nothing. It stands in for a refused Parse and its Describe, whose answers Gatehouse
    /// gives in its place, so they arrive in the server's order (docs/design/refusal-by-substitution.md).
    /// </summary>
    public static ReadOnlyMemory<byte> StandInMessage { get; } = Build(static w =>
        w.StartMessage((byte)FrontendMessageCode.Close).WriteByte((byte)'S').WriteCString(Sql).EndMessage());

    /// <summary>A statement name Gatehouse keeps for <see cref="StandInMessage"/>: a client's Parse of it is refused.</summary>
    public static bool IsReserved(string statementName) => statementName.StartsWith(Sql, StringComparison.Ordinal);

    public static Refusal ReservedName(string statementName) =>
        new(RefusalKind.SessionGuard, "42P05", $"gatehouse: prepared statement names starting with \"{Sql}\" are reserved (got \"{statementName}\")");

    /// <summary>What the client gets for a refused Parse, a Bind of it, and a Describe of that portal.</summary>
    public static byte[] ParseComplete { get; } = Build(static w => w.StartMessage((byte)BackendMessageCode.ParseComplete).EndMessage());

    public static byte[] BindComplete { get; } = Build(static w => w.StartMessage((byte)BackendMessageCode.BindComplete).EndMessage());

    public static byte[] NoData { get; } = Build(static w => w.StartMessage((byte)BackendMessageCode.NoData).EndMessage());

    /// <summary>What the client gets for a Describe of a refused statement: its parameters, and no rows.</summary>
    public static byte[] Described(IReadOnlyList<int> parameterTypes)
    {
        using var writer = new MessageWriter();
        writer.StartMessage((byte)BackendMessageCode.ParameterDescription).WriteInt16((short)(ushort)parameterTypes.Count);
        foreach (int type in parameterTypes)
        {
            writer.WriteInt32(type);
        }

        writer.EndMessage();
        writer.StartMessage((byte)BackendMessageCode.NoData).EndMessage();
        return writer.ToArray();
    }

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
