namespace Gatehouse.Protocol;

/// <summary>Builders for the server-side messages Gatehouse sends to clients itself.</summary>
public static class BackendMessages
{
    /// <summary>'S' answer to SSLRequest; 'N' answer to SSLRequest or GSSENCRequest.</summary>
    public static ReadOnlySpan<byte> SslAccepted => "S"u8;

    public static ReadOnlySpan<byte> EncryptionRefused => "N"u8;

    public static ReadOnlySpan<byte> AuthenticationOk => [(byte)'R', 0, 0, 0, 8, 0, 0, 0, 0];

    public static ReadOnlySpan<byte> AuthenticationCleartextPassword => [(byte)'R', 0, 0, 0, 8, 0, 0, 0, 3];

    public static ReadOnlySpan<byte> ReadyForQueryIdle => [(byte)'Z', 0, 0, 0, 5, (byte)'I'];

    public static void WriteError(MessageWriter writer, ErrorFields error, bool notice = false)
    {
        writer.StartMessage(notice ? (byte)BackendMessageCode.NoticeResponse : (byte)BackendMessageCode.ErrorResponse);
        writer.WriteByte((byte)'S').WriteCString(error.Severity);
        writer.WriteByte((byte)'V').WriteCString(error.Severity);
        writer.WriteByte((byte)'C').WriteCString(error.SqlState);
        writer.WriteByte((byte)'M').WriteCString(error.Message);
        if (error.Detail is not null)
        {
            writer.WriteByte((byte)'D').WriteCString(error.Detail);
        }

        if (error.Hint is not null)
        {
            writer.WriteByte((byte)'H').WriteCString(error.Hint);
        }

        writer.WriteByte(0).EndMessage();
    }

    public static byte[] Error(string sqlState, string message, string severity = "ERROR", string? detail = null)
    {
        using var writer = new MessageWriter();
        WriteError(writer, new ErrorFields(severity, sqlState, message) { Detail = detail });
        return writer.ToArray();
    }

    public static void WriteBackendKeyData(MessageWriter writer, int processId, int secretKey) =>
        writer.StartMessage((byte)BackendMessageCode.BackendKeyData).WriteInt32(processId).WriteInt32(secretKey).EndMessage();

    public static void WriteReadyForQuery(MessageWriter writer, TransactionStatus status) =>
        writer.StartMessage((byte)BackendMessageCode.ReadyForQuery).WriteByte((byte)status).EndMessage();

    public static void WriteParameterStatus(MessageWriter writer, string name, string value) =>
        writer.StartMessage((byte)BackendMessageCode.ParameterStatus).WriteCString(name).WriteCString(value).EndMessage();
}
