using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Gatehouse.Sql.Tests;

/// <summary>
/// The smallest simple-query client: one Query message per call, so the server — not a driver —
/// splits the text. Returns one entry per statement result: the CommandComplete tag, "EMPTY" for
/// EmptyQueryResponse, or "ERROR: …". COPY IN is answered with CopyDone. Trust authentication only.
/// </summary>
internal sealed class RawPgClient : IDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;

    private RawPgClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RawPgClient> ConnectAsync(string host, int port)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port);
        var c = new RawPgClient(tcp);
        var body = Encoding.UTF8.GetBytes("user\0postgres\0database\0postgres\0\0");
        var msg = new byte[8 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(msg, msg.Length);
        BinaryPrimitives.WriteInt32BigEndian(msg.AsSpan(4), 196608);
        body.CopyTo(msg, 8);
        await c._stream.WriteAsync(msg);
        while (true)
        {
            var (type, payload) = await c.ReadAsync();
            if (type == 'R' && BinaryPrimitives.ReadInt32BigEndian(payload) != 0)
                throw new InvalidOperationException("server asked for a password; start it with HostAuthMethod = trust");
            if (type == 'E')
                throw new InvalidOperationException("startup failed: " + ErrorText(payload));
            if (type == 'Z')
                return c;
        }
    }

    public async Task<List<string>> QueryAsync(string sql)
    {
        var text = Encoding.UTF8.GetBytes(sql);
        var msg = new byte[1 + 4 + text.Length + 1];
        msg[0] = (byte)'Q';
        BinaryPrimitives.WriteInt32BigEndian(msg.AsSpan(1), msg.Length - 1);
        text.CopyTo(msg, 5);
        await _stream.WriteAsync(msg);
        var results = new List<string>();
        while (true)
        {
            var (type, payload) = await ReadAsync();
            switch (type)
            {
                case 'C': results.Add(Encoding.UTF8.GetString(payload, 0, payload.Length - 1)); break;
                case 'I': results.Add("EMPTY"); break;
                case 'E': results.Add("ERROR: " + ErrorText(payload)); break;
                case 'G': await _stream.WriteAsync(new byte[] { (byte)'c', 0, 0, 0, 4 }); break;
                case 'Z': return results;
            }
        }
    }

    private async Task<(char Type, byte[] Payload)> ReadAsync()
    {
        var header = new byte[5];
        await _stream.ReadExactlyAsync(header);
        var payload = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
        await _stream.ReadExactlyAsync(payload);
        return ((char)header[0], payload);
    }

    private static string ErrorText(byte[] payload)
    {
        for (var i = 0; i < payload.Length && payload[i] != 0;)
        {
            var end = Array.IndexOf(payload, (byte)0, i + 1);
            if (payload[i] == 'M')
                return Encoding.UTF8.GetString(payload, i + 1, end - i - 1);
            i = end + 1;
        }
        return "(no message)";
    }

    public void Dispose()
    {
        try { _stream.Write([(byte)'X', 0, 0, 0, 4]); } catch (IOException) { }
        _tcp.Dispose();
    }
}
