using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace Gatehouse.IntegrationTests;

/// <summary>How a row's steps reach the gateway.</summary>
[Flags]
public enum RedTeamProtocol
{
    /// <summary>Simple query protocol: one Query message per step, from a raw client (the bytes are exactly the row's).</summary>
    Simple = 1,

    /// <summary>Extended protocol from a real driver: Npgsql (Parse/Bind/Describe/Execute/Sync; a batch for several statements).</summary>
    Extended = 2,

    /// <summary>Extended protocol from the raw client: for raw bytes, and named statements Npgsql would not send.</summary>
    RawExtended = 4,

    /// <summary>psql, the real client, reading the steps from stdin.</summary>
    Psql = 8,

    Both = Simple | Extended,
}

public enum StepKind
{
    /// <summary>One message (Query, or Parse/Bind/Execute/Sync; Npgsql splits several statements itself).</summary>
    Run,

    /// <summary>Several messages sent back to back before any answer is read (Queries, or one Sync at the end).</summary>
    Pipeline,

    /// <summary>A named Parse and a Sync, never executed.</summary>
    ParseOnly,

    /// <summary>COPY … TO STDOUT.</summary>
    CopyOut,
}

/// <summary>
/// One thing a row sends. <paramref name="Latin1"/>: the text is sent byte for byte (each char one byte), so
/// "\u0095\\" is 0x95 0x5C whatever the client encoding.
/// </summary>
public sealed record Step(StepKind Kind, string[] Sql, string?[]? Parameters = null, bool Latin1 = false, string Name = "")
{
    public static Step Q(string sql) => new(StepKind.Run, [sql]);

    public static Step Bytes(string sql) => new(StepKind.Run, [sql], Latin1: true);

    public static Step Bind(string sql, params string?[] parameters) => new(StepKind.Run, [sql], parameters);

    public static Step Pipe(params string[] sql) => new(StepKind.Pipeline, sql);

    public static Step ParseOnly(string name, string sql) => new(StepKind.ParseOnly, [sql], Name: name);

    public static Step Copy(string sql) => new(StepKind.CopyOut, [sql]);

    public override string ToString() => Kind switch
    {
        StepKind.Run when Parameters is not null => $"{Sql[0]}  -- with ${string.Join(", $", Parameters.Select((p, i) => $"{i + 1}='{p}'"))}",
        StepKind.Run when Latin1 => string.Concat(Sql[0].Select(c => c < 0x80 ? c.ToString() : $"\\x{(int)c:X2}")) + "  -- raw bytes",
        StepKind.Run => Sql[0],
        StepKind.Pipeline => "pipelined: " + string.Join("  ||  ", Sql),
        StepKind.ParseOnly => $"Parse \"{Name}\" (never executed): {Sql[0]}",
        _ => "copy out: " + Sql[0],
    };
}

/// <summary>What the client saw for one step.</summary>
public sealed class Outcome
{
    public List<(string SqlState, string Message)> Errors { get; } = [];

    public List<string> Notices { get; } = [];

    public List<string> Values { get; } = [];

    public List<string> Tags { get; } = [];

    public bool Closed { get; set; }

    public string? ClientError { get; set; }

    /// <summary>Every text the server sent back: values, errors, notices.</summary>
    public IEnumerable<string> AllText() => Values.Concat(Errors.Select(e => e.Message)).Concat(Notices).Append(ClientError ?? "");

    public override string ToString()
    {
        var parts = new List<string>();
        if (Values.Count > 0)
        {
            parts.Add("values [" + string.Join(", ", Values.Take(6).Select(v => v.Length > 120 ? v[..120] + "…" : v)) + (Values.Count > 6 ? ", …" : "") + "]");
        }

        parts.AddRange(Tags.Select(t => "tag " + t));
        parts.AddRange(Errors.Select(e => $"ERROR {e.SqlState} {e.Message}"));
        parts.AddRange(Notices.Select(n => "notice " + n));
        if (ClientError is not null)
        {
            parts.Add("client: " + ClientError);
        }

        if (Closed)
        {
            parts.Add("connection closed");
        }

        return parts.Count == 0 ? "(nothing)" : string.Join("; ", parts);
    }
}

/// <summary>A connection through the gateway that runs steps and reports what came back, never throwing for a server's answer.</summary>
public interface IProbeSession : IAsyncDisposable
{
    bool Closed { get; }

    Task<Outcome> RunAsync(Step step);
}

/// <summary>
/// The smallest protocol 3.0 client, so rows control the exact bytes: startup with any parameters, cleartext
/// password (the token; the test gateway allows plaintext from loopback), Query, Parse/Bind/Describe/Execute/Sync,
/// pipelining, COPY out. Reads until the expected ReadyForQuery, with a time limit.
/// </summary>
public sealed class RawProbe : IProbeSession
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(15);
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly bool _extended;

    private RawProbe(TcpClient tcp, bool extended)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _extended = extended;
    }

    public bool Closed { get; private set; }

    /// <summary>Connects and authenticates; returns null with the refusal when the gateway refuses the startup.</summary>
    public static async Task<(RawProbe? Probe, string? Refusal)> ConnectAsync(
        int port, string token, IEnumerable<KeyValuePair<string, string>>? parameters = null, bool extended = false, string user = "agent")
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        var probe = new RawProbe(tcp, extended);
        var startup = new Writer();
        startup.Int32(196608).CString("user").CString(user).CString("database").CString(TestGateway.Target);
        foreach (var (key, value) in parameters ?? [])
        {
            startup.CString(key).CString(value);
        }

        startup.Byte(0);
        await probe._stream.WriteAsync(startup.Untyped());
        var outcome = new Outcome();
        while (true)
        {
            var message = await probe.ReadAsync(outcome);
            switch (message)
            {
                case null:
                    await probe.DisposeAsync();
                    return (null, "closed during startup " + outcome);
                case ('R', var payload) when BinaryPrimitives.ReadInt32BigEndian(payload) == 3:
                    await probe._stream.WriteAsync(new Writer().CString(token).Typed('p'));
                    break;
                case ('R', var payload) when BinaryPrimitives.ReadInt32BigEndian(payload) != 0:
                    await probe.DisposeAsync();
                    return (null, "unexpected authentication request " + BinaryPrimitives.ReadInt32BigEndian(payload));
                case ('E', _):
                    await probe.DisposeAsync();
                    return (null, outcome.ToString());
                case ('Z', _):
                    return (probe, null);
            }
        }
    }

    public Task<Outcome> RunAsync(Step step)
    {
        var encoding = step.Latin1 ? Encoding.Latin1 : Encoding.UTF8;
        var w = new Writer();
        int readyForQuery = 1;
        switch (step.Kind)
        {
            case StepKind.ParseOnly:
                AppendParse(w, step.Name, encoding.GetBytes(step.Sql[0]));
                w.Message('S');
                break;
            case StepKind.Pipeline when !_extended:
                foreach (var sql in step.Sql)
                {
                    w.Bytes(encoding.GetBytes(sql)).Byte(0).Message('Q');
                }

                readyForQuery = step.Sql.Length;
                break;
            case StepKind.Pipeline:
                foreach (var sql in step.Sql)
                {
                    AppendExecute(w, encoding.GetBytes(sql), []);
                }

                w.Message('S');
                break;
            case StepKind.Run or StepKind.CopyOut when _extended || step.Parameters is not null:
                AppendExecute(w, encoding.GetBytes(step.Sql[0]), step.Parameters ?? []);
                w.Message('S');
                break;
            default:
                w.Bytes(encoding.GetBytes(step.Sql[0])).Byte(0).Message('Q');
                break;
        }

        return SendAndCollectAsync(w.Buffer.ToArray(), readyForQuery);
    }

    private static void AppendParse(Writer w, string name, byte[] sql) =>
        w.CString(name).Bytes(sql).Byte(0).Int16(0).Message('P');

    private static void AppendExecute(Writer w, byte[] sql, string?[] parameters)
    {
        AppendParse(w, "", sql);
        w.CString("").CString("").Int16(0).Int16((short)parameters.Length);
        foreach (var parameter in parameters)
        {
            if (parameter is null)
            {
                w.Int32(-1);
            }
            else
            {
                var bytes = Encoding.UTF8.GetBytes(parameter);
                w.Int32(bytes.Length).Bytes(bytes);
            }
        }

        w.Int16(0).Message('B');
        w.Byte((byte)'P').CString("").Message('D');
        w.CString("").Int32(0).Message('E');
    }

    private async Task<Outcome> SendAndCollectAsync(byte[] bytes, int readyForQuery)
    {
        var outcome = new Outcome();
        if (Closed)
        {
            outcome.Closed = true;
            return outcome;
        }

        try
        {
            await _stream.WriteAsync(bytes);
        }
        catch (IOException ex)
        {
            Closed = outcome.Closed = true;
            outcome.ClientError = ex.Message;
            return outcome;
        }

        while (readyForQuery > 0)
        {
            var message = await ReadAsync(outcome);
            if (message is null)
            {
                break;
            }

            if (message.Value.Type == 'Z')
            {
                readyForQuery--;
            }
        }

        return outcome;
    }

    /// <summary>Reads one message, recording what it says into the outcome; null when the connection ended.</summary>
    private async Task<(char Type, byte[] Payload)?> ReadAsync(Outcome outcome)
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        byte[] payload;
        char type;
        try
        {
            var header = new byte[5];
            await _stream.ReadExactlyAsync(header, timeout.Token);
            type = (char)header[0];
            payload = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
            await _stream.ReadExactlyAsync(payload, timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or OperationCanceledException or SocketException)
        {
            Closed = outcome.Closed = true;
            outcome.ClientError ??= ex is OperationCanceledException ? $"no answer within {ReadTimeout.TotalSeconds}s" : null;
            return null;
        }

        switch (type)
        {
            case 'D':
                ReadDataRow(payload, outcome);
                break;
            case 'd':
                outcome.Values.Add(Encoding.UTF8.GetString(payload));
                break;
            case 'C':
                outcome.Tags.Add(Encoding.UTF8.GetString(payload, 0, payload.Length - 1));
                break;
            case 'E':
                var fields = Fields(payload);
                outcome.Errors.Add((fields.GetValueOrDefault('C', "?????"), fields.GetValueOrDefault('M', "(no message)")));
                break;
            case 'N':
                outcome.Notices.Add(Fields(payload).GetValueOrDefault('M', ""));
                break;
            case 'G':
                await _stream.WriteAsync(new Writer().CString("red team sends no data").Typed('f'));
                break;
        }

        return (type, payload);
    }

    private static void ReadDataRow(byte[] payload, Outcome outcome)
    {
        int count = BinaryPrimitives.ReadInt16BigEndian(payload);
        int at = 2;
        for (int i = 0; i < count; i++)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(at));
            at += 4;
            if (length < 0)
            {
                outcome.Values.Add("NULL");
                continue;
            }

            outcome.Values.Add(Encoding.UTF8.GetString(payload, at, length));
            at += length;
        }
    }

    private static Dictionary<char, string> Fields(byte[] payload)
    {
        var fields = new Dictionary<char, string>();
        for (int i = 0; i < payload.Length && payload[i] != 0;)
        {
            int end = Array.IndexOf(payload, (byte)0, i + 1);
            fields[(char)payload[i]] = Encoding.UTF8.GetString(payload, i + 1, end - i - 1);
            i = end + 1;
        }

        return fields;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Closed)
            {
                await _stream.WriteAsync(new byte[] { (byte)'X', 0, 0, 0, 4 });
            }
        }
        catch (IOException)
        {
            // Already gone.
        }

        _tcp.Dispose();
    }

    /// <summary>Message bytes: the body is written first, then framed.</summary>
    private sealed class Writer
    {
        public List<byte> Buffer { get; } = [];

        private List<byte> _body = [];

        public Writer Byte(byte value)
        {
            _body.Add(value);
            return this;
        }

        public Writer Int16(short value)
        {
            _body.Add((byte)(value >> 8));
            _body.Add((byte)value);
            return this;
        }

        public Writer Int32(int value)
        {
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(bytes, value);
            _body.AddRange(bytes);
            return this;
        }

        public Writer Bytes(byte[] value)
        {
            _body.AddRange(value);
            return this;
        }

        public Writer CString(string value) => Bytes(Encoding.UTF8.GetBytes(value)).Byte(0);

        /// <summary>Frames the body written so far as a typed message and appends it to <see cref="Buffer"/>.</summary>
        public Writer Message(char type)
        {
            Buffer.Add((byte)type);
            var length = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(length, _body.Count + 4);
            Buffer.AddRange(length);
            Buffer.AddRange(_body);
            _body = [];
            return this;
        }

        public byte[] Typed(char type) => Message(type).Buffer.ToArray();

        public byte[] Untyped()
        {
            var all = new byte[_body.Count + 4];
            BinaryPrimitives.WriteInt32BigEndian(all, all.Length);
            _body.CopyTo(all, 4);
            return all;
        }
    }
}

/// <summary>Npgsql as the client: the extended protocol as a real driver speaks it. All results are read as text.</summary>
public sealed class NpgsqlProbe : IProbeSession
{
    private readonly NpgsqlConnection _connection;
    private readonly List<string> _notices = [];

    private NpgsqlProbe(NpgsqlConnection connection)
    {
        _connection = connection;
        _connection.Notice += (_, e) => _notices.Add(e.Notice.MessageText);
    }

    public bool Closed => _connection.FullState is System.Data.ConnectionState.Broken or System.Data.ConnectionState.Closed;

    public static async Task<(NpgsqlProbe? Probe, string? Refusal)> ConnectAsync(
        int port, string? token, IEnumerable<KeyValuePair<string, string>>? parameters = null, string user = "agent")
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Database = TestGateway.Target,
            Username = user,
            Password = token,
            SslMode = SslMode.Disable,
            Pooling = false,
            Timeout = 15,
            CommandTimeout = 15,
        };
        foreach (var (key, value) in parameters ?? [])
        {
            switch (key)
            {
                case "options": builder.Options = value; break;
                case "search_path": builder.SearchPath = value; break;
                case "client_encoding": builder.ClientEncoding = value; break;
                default: throw new ArgumentException($"no Npgsql setting for startup parameter {key}");
            }
        }

        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync();
            return (new NpgsqlProbe(connection), null);
        }
        catch (Exception ex) when (ex is NpgsqlException or ArgumentException)
        {
            await connection.DisposeAsync();
            return (null, ex.Message);
        }
    }

    public async Task<Outcome> RunAsync(Step step)
    {
        var outcome = new Outcome();
        _notices.Clear();
        try
        {
            switch (step.Kind)
            {
                case StepKind.Run:
                    await using (var command = new NpgsqlCommand(step.Sql[0], _connection) { AllResultTypesAreUnknown = true })
                    {
                        foreach (var parameter in step.Parameters ?? [])
                        {
                            command.Parameters.Add(new NpgsqlParameter { Value = (object?)parameter ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
                        }

                        await using var reader = await command.ExecuteReaderAsync();
                        await ReadAllAsync(reader, outcome);
                    }

                    break;
                case StepKind.Pipeline:
                    await using (var batch = new NpgsqlBatch(_connection))
                    {
                        foreach (var sql in step.Sql)
                        {
                            batch.BatchCommands.Add(new NpgsqlBatchCommand(sql));
                        }

                        await using var reader = await batch.ExecuteReaderAsync();
                        await ReadAllAsync(reader, outcome);
                    }

                    break;
                case StepKind.ParseOnly:
                    await using (var command = new NpgsqlCommand(step.Sql[0], _connection))
                    {
                        await command.PrepareAsync();
                    }

                    break;
                case StepKind.CopyOut:
                    using (var export = await _connection.BeginTextExportAsync(step.Sql[0]))
                    {
                        outcome.Values.Add(await export.ReadToEndAsync());
                    }

                    break;
            }
        }
        catch (PostgresException ex)
        {
            outcome.Errors.Add((ex.SqlState, ex.MessageText));
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException or NotSupportedException or ObjectDisposedException)
        {
            outcome.ClientError = ex.GetType().Name + ": " + ex.Message;
        }

        outcome.Notices.AddRange(_notices);
        outcome.Closed = Closed;
        return outcome;
    }

    private static async Task ReadAllAsync(NpgsqlDataReader reader, Outcome outcome)
    {
        do
        {
            while (await reader.ReadAsync())
            {
                for (int i = 0; i < reader.FieldCount; i++)
                {
                    outcome.Values.Add(reader.IsDBNull(i) ? "NULL" : reader.GetValue(i) switch
                    {
                        byte[] bytes => "\\x" + Convert.ToHexString(bytes).ToLowerInvariant(),
                        var value => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
                    });
                }
            }
        }
        while (await reader.NextResultAsync());

        if (reader.RecordsAffected >= 0)
        {
            outcome.Tags.Add("affected " + reader.RecordsAffected);
        }
    }

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();
}
