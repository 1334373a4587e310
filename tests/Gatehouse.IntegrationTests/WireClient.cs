using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Gatehouse.Protocol;

namespace Gatehouse.IntegrationTests;

/// <summary>One backend message as received: its type and payload.</summary>
internal sealed record WireReply(char Type, byte[] Payload)
{
    public ErrorFields Error => ErrorFields.Parse(new ReadOnlySequence<byte>(Payload));

    /// <summary>The first column of a DataRow, as text.</summary>
    public string? FirstValue()
    {
        int length = BinaryPrimitives.ReadInt32BigEndian(Payload.AsSpan(2));
        return length < 0 ? null : Encoding.UTF8.GetString(Payload, 6, length);
    }

    /// <summary>Every column of a DataRow, as text (null for SQL NULL).</summary>
    public string?[] Values()
    {
        int count = BinaryPrimitives.ReadInt16BigEndian(Payload);
        var values = new string?[count];
        int at = 2;
        for (int i = 0; i < count; i++)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(Payload.AsSpan(at));
            at += 4;
            values[i] = length < 0 ? null : Encoding.UTF8.GetString(Payload, at, length);
            at += Math.Max(length, 0);
        }

        return values;
    }

    public override string ToString() => Type == 'E' ? $"E({Error.SqlState})" : Type.ToString();
}

/// <summary>
/// A protocol 3.0 client on Gatehouse's own codec (MessageWriter, FrameReader, ScramSha256Client), plaintext, so a
/// test sends exactly the messages a pipelining driver sends, to the gateway or straight to PostgreSQL, and sees
/// every reply.
/// </summary>
internal sealed class WireClient : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(20);
    private readonly TcpClient _tcp = new() { NoDelay = true };
    private readonly MessageWriter _out = new();
    private NetworkStream _stream = null!;

    public static async Task<WireClient> ConnectAsync(int port, string user, string password, string database = TestGateway.Target)
    {
        var client = new WireClient();
        await client._tcp.ConnectAsync("127.0.0.1", port);
        client._stream = client._tcp.GetStream();
        FrontendMessages.WriteStartup(client._out, [new("user", user), new("database", database)]);
        await client.FlushAsync();
        ScramSha256Client? scram = null;
        while (true)
        {
            var reply = await client.ReadAsync();
            var reader = new PayloadReader(reply.Payload);
            switch (reply.Type)
            {
                case 'R':
                    reader.TryReadInt32(out int type);
                    switch ((AuthenticationRequestType)type)
                    {
                        case AuthenticationRequestType.Ok:
                            continue;
                        case AuthenticationRequestType.CleartextPassword:
                            FrontendMessages.WritePassword(client._out, password);
                            break;
                        case AuthenticationRequestType.Sasl:
                            scram = new ScramSha256Client(password, ["SCRAM-SHA-256"], null);
                            FrontendMessages.WriteSaslInitialResponse(client._out, scram.Mechanism, scram.ClientFirstMessage());
                            break;
                        case AuthenticationRequestType.SaslContinue:
                            FrontendMessages.WriteSaslResponse(client._out, scram!.ClientFinalMessage(reader.Rest, out var error) ?? throw new InvalidOperationException(error));
                            break;
                        case AuthenticationRequestType.SaslFinal:
                            continue;
                        default:
                            throw new InvalidOperationException($"authentication method {type} is not supported here");
                    }

                    await client.FlushAsync();
                    break;
                case 'E':
                    throw new InvalidOperationException("login refused: " + reply.Error);
                case 'Z':
                    return client;
            }
        }
    }

    public WireClient Query(string sql)
    {
        _out.StartMessage((byte)FrontendMessageCode.Query).WriteCString(sql).EndMessage();
        return this;
    }

    /// <summary>A Query of raw bytes: text in a client encoding other than UTF-8.</summary>
    public WireClient Query(byte[] sql)
    {
        _out.StartMessage((byte)FrontendMessageCode.Query).WriteBytes(sql).WriteByte(0).EndMessage();
        return this;
    }

    public WireClient Parse(string name, string sql)
    {
        _out.StartMessage((byte)FrontendMessageCode.Parse).WriteCString(name).WriteCString(sql).WriteInt16(0).EndMessage();
        return this;
    }

    /// <summary>Parse declaring its parameters' type OIDs.</summary>
    public WireClient Parse(string name, string sql, params int[] types)
    {
        _out.StartMessage((byte)FrontendMessageCode.Parse).WriteCString(name).WriteCString(sql).WriteInt16((short)types.Length);
        foreach (int type in types)
        {
            _out.WriteInt32(type);
        }

        _out.EndMessage();
        return this;
    }

    /// <summary>Bind with every parameter in one format (0 text, 1 binary), given as raw bytes, and text results.</summary>
    public WireClient Bind(string portal, string statement, short format, params byte[][] values)
    {
        _out.StartMessage((byte)FrontendMessageCode.Bind).WriteCString(portal).WriteCString(statement).WriteInt16(1).WriteInt16(format).WriteInt16((short)values.Length);
        foreach (var value in values)
        {
            _out.WriteInt32(value.Length).WriteBytes(value);
        }

        _out.WriteInt16(0).EndMessage();
        return this;
    }

    public WireClient Describe(char target, string name)
    {
        _out.StartMessage((byte)FrontendMessageCode.Describe).WriteByte((byte)target).WriteCString(name).EndMessage();
        return this;
    }

    /// <summary>Bind with text parameters and text results.</summary>
    public WireClient Bind(string portal, string statement, params string?[] parameters)
    {
        _out.StartMessage((byte)FrontendMessageCode.Bind).WriteCString(portal).WriteCString(statement).WriteInt16(0).WriteInt16((short)parameters.Length);
        foreach (var parameter in parameters)
        {
            if (parameter is null)
            {
                _out.WriteInt32(-1);
            }
            else
            {
                var bytes = Encoding.UTF8.GetBytes(parameter);
                _out.WriteInt32(bytes.Length).WriteBytes(bytes);
            }
        }

        _out.WriteInt16(0).EndMessage();
        return this;
    }

    public WireClient Execute(string portal, int maxRows = 0)
    {
        _out.StartMessage((byte)FrontendMessageCode.Execute).WriteCString(portal).WriteInt32(maxRows).EndMessage();
        return this;
    }

    public WireClient Close(char target, string name)
    {
        _out.StartMessage((byte)FrontendMessageCode.Close).WriteByte((byte)target).WriteCString(name).EndMessage();
        return this;
    }

    public WireClient CopyData(string data)
    {
        _out.StartMessage((byte)FrontendMessageCode.CopyData).WriteBytes(Encoding.UTF8.GetBytes(data)).EndMessage();
        return this;
    }

    public WireClient CopyDone()
    {
        _out.StartMessage((byte)FrontendMessageCode.CopyDone).EndMessage();
        return this;
    }

    public WireClient Flush()
    {
        _out.StartMessage((byte)FrontendMessageCode.Flush).EndMessage();
        return this;
    }

    public WireClient Sync()
    {
        _out.WriteBytes(FrontendMessages.Sync);
        return this;
    }

    /// <summary>Sends what was written, then reads every reply up to and including the ReadyForQuery (notices too, when
    /// <paramref name="notices"/>).</summary>
    public async Task<List<WireReply>> RoundTripAsync(bool notices = false)
    {
        await FlushAsync();
        var replies = new List<WireReply>();
        while (true)
        {
            var reply = await ReadAsync();
            if (reply.Type == 'S' || (reply.Type == 'N' && !notices))
            {
                continue; // notices and parameter status are not part of the answer's shape
            }

            replies.Add(reply);
            if (reply.Type == 'Z')
            {
                return replies;
            }
        }
    }

    /// <summary>Sends what was written without waiting for replies.</summary>
    public Task SendAsync() => FlushAsync();

    /// <summary>Reads replies until one of type <paramref name="type"/> (a notice is returned too).</summary>
    public async Task<WireReply> ReadUntilAsync(char type)
    {
        while (true)
        {
            var reply = await ReadAsync();
            if (reply.Type == type)
            {
                return reply;
            }
        }
    }

    private async Task FlushAsync()
    {
        await _stream.WriteAsync(_out.WrittenMemory);
        _out.Reset();
    }

    private async Task<WireReply> ReadAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        var header = new byte[FrameHeader.Size];
        await _stream.ReadExactlyAsync(header, timeout.Token);
        if (!FrameReader.TryReadHeader(header, 64 << 20, out var frame, out var error))
        {
            throw new InvalidOperationException($"bad frame header: {error}");
        }

        var payload = new byte[frame.PayloadLength];
        await _stream.ReadExactlyAsync(payload, timeout.Token);
        return new WireReply((char)frame.Code, payload);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            try
            {
                _out.Reset();
                _out.WriteBytes(FrontendMessages.Terminate);
                await FlushAsync();
            }
            catch (IOException)
            {
                // Already closed.
            }
        }

        _out.Dispose();
        _tcp.Dispose();
    }
}
