using System.Text;
using System.Text.Json;
using Gatehouse.Pipeline;
using Gatehouse.Policy;
using Gatehouse.Protocol;
using Gatehouse.Sql;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Proxy.Tests;

/// <summary>Builds frontend and backend byte fixtures and reads frames back, with the production codec.</summary>
internal static class Wire
{
    public static byte[] Query(string sql) => Build(w => FrontendMessages.WriteQuery(w, sql));

    public static byte[] Parse(string name, string sql) =>
        Build(w => w.StartMessage((byte)'P').WriteCString(name).WriteCString(sql).WriteInt16(0).EndMessage());

    public static byte[] Bind(string portal, string statement) =>
        Build(w => w.StartMessage((byte)'B').WriteCString(portal).WriteCString(statement).WriteInt16(0).WriteInt16(0).WriteInt16(0).EndMessage());

    public static byte[] Describe(char target, string name) => Build(w => w.StartMessage((byte)'D').WriteByte((byte)target).WriteCString(name).EndMessage());

    public static byte[] Execute(string portal) => Build(w => w.StartMessage((byte)'E').WriteCString(portal).WriteInt32(0).EndMessage());

    public static byte[] Close(char target, string name) => Build(w => w.StartMessage((byte)'C').WriteByte((byte)target).WriteCString(name).EndMessage());

    public static byte[] Sync() => FrontendMessages.Sync.ToArray();

    public static byte[] CopyData(byte[] data) => Build(w => w.StartMessage((byte)'d').WriteBytes(data).EndMessage());

    public static byte[] CopyDone() => Build(w => w.StartMessage((byte)'c').EndMessage());

    public static byte[] FunctionCall() => Build(w => w.StartMessage((byte)'F').WriteInt32(1234).WriteInt16(0).WriteInt16(0).WriteInt16(0).EndMessage());

    // Backend
    public static byte[] ParseComplete() => Simple('1');

    public static byte[] BindComplete() => Simple('2');

    public static byte[] CloseComplete() => Simple('3');

    public static byte[] NoData() => Simple('n');

    public static byte[] EmptyQuery() => Simple('I');

    public static byte[] CommandComplete(string tag) => Build(w => w.StartMessage((byte)'C').WriteCString(tag).EndMessage());

    public static byte[] DataRow(string value) => Build(w => w.StartMessage((byte)'D').WriteInt16(1).WriteInt32(Encoding.UTF8.GetByteCount(value)).WriteBytes(Encoding.UTF8.GetBytes(value)).EndMessage());

    public static byte[] RowDescription() => Build(w => w.StartMessage((byte)'T').WriteInt16(1).WriteCString("x").WriteInt32(0).WriteInt16(0).WriteInt32(25).WriteInt16(-1).WriteInt32(-1).WriteInt16(0).EndMessage());

    public static byte[] Ready(char status = 'I') => Build(w => BackendMessages.WriteReadyForQuery(w, (TransactionStatus)status));

    public static byte[] Error(string sqlState, string message) => BackendMessages.Error(sqlState, message);

    /// <summary>What the server answers for the refusal text.</summary>
    public static byte[] RefusalSyntaxError() => Error("42601", $"syntax error at or near \"{RefusalStatement.Sql}\"");

    public static byte[] ParameterStatus(string name, string value) => Build(w => BackendMessages.WriteParameterStatus(w, name, value));

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>Splits a byte stream into (type, payload) frames.</summary>
    public static List<(char Code, byte[] Payload)> Frames(byte[] bytes)
    {
        var frames = new List<(char, byte[])>();
        var rest = new System.Buffers.ReadOnlySequence<byte>(bytes);
        while (FrameReader.TryRead(ref rest, int.MaxValue - 5, out var header, out var payload, out _))
        {
            frames.Add(((char)header.Code, System.Buffers.BuffersExtensions.ToArray(payload)));
        }

        Assert.Equal(0, rest.Length);
        return frames;
    }

    public static string Codes(byte[] bytes) => new(Frames(bytes).Select(f => f.Code).ToArray());

    /// <summary>The M field of an ErrorResponse payload.</summary>
    public static ErrorFields ErrorOf(byte[] payload) => ErrorFields.Parse(new System.Buffers.ReadOnlySequence<byte>(payload));

    public static string QueryText(byte[] payload) => Encoding.UTF8.GetString(payload, 0, payload.Length - 1);

    private static byte[] Simple(char code) => Build(w => w.StartMessage((byte)code).EndMessage());

    private static byte[] Build(Action<MessageWriter> write)
    {
        using var writer = new MessageWriter();
        write(writer);
        return writer.ToArray();
    }
}

/// <summary>Runs one relay pump over in-memory streams: the bytes it wrote for the frames it read.</summary>
internal static class Relay
{
    public static async Task<byte[]> ToServerAsync(StatementPipeline? pipeline, StatementLedger ledger, int maxMessage, params byte[][] clientFrames)
    {
        using var output = new MemoryStream();
        using var pump = new ClientToServerPump(new MemoryStream(Wire.Concat(clientFrames)), output, maxMessage, pipeline, ledger);
        await pump.RunAsync(CancellationToken.None);
        return output.ToArray();
    }

    public static async Task<byte[]> ToClientAsync(StatementPipeline? pipeline, StatementLedger ledger, params byte[][] serverFrames)
    {
        using var output = new MemoryStream();
        using var pump = new ServerToClientPump(new MemoryStream(Wire.Concat(serverFrames)), output, pipeline, ledger);
        await pump.RunAsync(CancellationToken.None);
        return output.ToArray();
    }
}

/// <summary>A real statement pipeline over a policy file, as a session would have after admission.</summary>
internal sealed class TestPipeline : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gatehouse-proxy-test-").FullName;

    public const string DefaultPolicy = """
        identities:
          agents: { claims: { groups: ai-agents } }
        grants:
          - to: agents
            targets: [shop]
            db_roles: [app_read]
            rules:
              - { id: no-ddl, when: { class: [ddl, dcl, admin, code] }, then: deny }
              - { id: pay-writes, when: { class: write, tables: ["public.payments"] }, then: deny }
        """;

    public TestPipeline(string policy = DefaultPolicy, Gatehouse.Pipeline.Masking.RelationCatalog? catalog = null, Gatehouse.Pipeline.Masking.IValueMasker? masker = null)
    {
        var path = Path.Combine(_directory, "policy.yaml");
        File.WriteAllText(path, policy);
        Store = PolicyStore.Open(path);
        var principal = new Principal("agent-1", "https://issuer.test", JsonDocument.Parse("""{"groups":"ai-agents"}""").RootElement.Clone(), "hash", DateTimeOffset.UtcNow.AddHours(1));
        Session = new SessionContext("s1", principal, "shop", FrontDoor.Wire, "gh_agent_1");
        Pipeline = new StatementPipeline(Store, Session, SqlAnalyzer.Instance, NullLogger.Instance, catalog, masker);
    }

    public PolicyStore Store { get; }

    public SessionContext Session { get; }

    public StatementPipeline Pipeline { get; }

    public void Dispose()
    {
        Store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
