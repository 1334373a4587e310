namespace Gatehouse.Protocol;

/// <summary>Builders for the client-side messages Gatehouse sends upstream itself.</summary>
public static class FrontendMessages
{
    public static ReadOnlySpan<byte> SslRequest => [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F];

    public static ReadOnlySpan<byte> Terminate => [(byte)'X', 0, 0, 0, 4];

    public static ReadOnlySpan<byte> Sync => [(byte)'S', 0, 0, 0, 4];

    public static void WriteStartup(MessageWriter writer, IEnumerable<KeyValuePair<string, string>> parameters)
    {
        writer.StartUntypedMessage().WriteInt32(StartupCodes.ProtocolVersion3);
        foreach (var (key, value) in parameters)
        {
            writer.WriteCString(key).WriteCString(value);
        }

        writer.WriteByte(0).EndMessage();
    }

    public static void WriteCancelRequest(MessageWriter writer, int processId, int secretKey) =>
        writer.StartUntypedMessage().WriteInt32(StartupCodes.CancelRequest).WriteInt32(processId).WriteInt32(secretKey).EndMessage();

    public static void WritePassword(MessageWriter writer, string password) =>
        writer.StartMessage((byte)FrontendMessageCode.Password).WriteCString(password).EndMessage();

    public static void WriteSaslInitialResponse(MessageWriter writer, string mechanism, ReadOnlySpan<byte> data) =>
        writer.StartMessage((byte)FrontendMessageCode.Password).WriteCString(mechanism).WriteInt32(data.Length).WriteBytes(data).EndMessage();

    public static void WriteSaslResponse(MessageWriter writer, ReadOnlySpan<byte> data) =>
        writer.StartMessage((byte)FrontendMessageCode.Password).WriteBytes(data).EndMessage();

    public static void WriteQuery(MessageWriter writer, string sql) =>
        writer.StartMessage((byte)FrontendMessageCode.Query).WriteCString(sql).EndMessage();
}
