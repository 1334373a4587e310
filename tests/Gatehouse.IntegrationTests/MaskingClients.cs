using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using NpgsqlTypes;

namespace Gatehouse.IntegrationTests;

/// <summary>The real clients a masking row runs with; each reads results the way that client does.</summary>
[Flags]
public enum MaskClient
{
    /// <summary>psql (simple query protocol, text results, CSV output; <c>\copy</c> works).</summary>
    Psql = 1,

    /// <summary>Npgsql, extended protocol, every result column requested as text.</summary>
    NpgsqlText = 2,

    /// <summary>Npgsql, extended protocol, binary results read with GetFieldValue&lt;string&gt; / GetValue; COPY via BeginBinaryExport.</summary>
    NpgsqlBinary = 4,

    /// <summary>Npgsql with explicit Prepare (named statements) and auto-prepare, binary results, each step run twice.</summary>
    NpgsqlPrepared = 8,

    /// <summary>node-postgres, extended protocol (queryMode extended), raw text values.</summary>
    Node = 16,

    /// <summary>A raw protocol client: named Parse + Describe statement + Sync, then Bind (text) + Execute of 3 rows at a time, no Describe portal.</summary>
    RawText = 32,

    /// <summary>A raw protocol client: unnamed Parse, Bind with every result column binary, Describe portal, Execute, Sync.</summary>
    RawBinary = 64,

    /// <summary>A raw protocol client sending each step as one Query message (several statements in one text stay one message).</summary>
    RawSimple = 128,

    Npgsql = NpgsqlText | NpgsqlBinary,
    Drivers = Psql | NpgsqlText | NpgsqlBinary | Node,
    All = Drivers | RawBinary,
}

/// <summary>One statement of a row, with positional parameters ($1…) for the clients that bind them.</summary>
public sealed record MaskStep(string Sql, string?[]? Parameters = null)
{
    public static implicit operator MaskStep(string sql) => new(sql);

    public bool IsMeta => Sql.StartsWith('\\');

    public bool IsCopyOut => CopyOut.IsMatch(Sql);

    public bool IsBinaryCopy => IsCopyOut && BinaryFormat.IsMatch(Sql);

    private static readonly Regex CopyOut = new(@"^\s*\\?copy\b.*\bto\s+stdout\b", RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant);

    private static readonly Regex BinaryFormat = new(@"\bformat\s+binary\b|\bbinary\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    public override string ToString() => Parameters is null ? Sql : $"{Sql}  -- with {string.Join(", ", Parameters.Select((p, i) => $"${i + 1}='{p}'"))}";
}

public sealed class ResultSet
{
    public List<string> Columns { get; } = [];

    public List<string?[]> Rows { get; } = [];

    public int Column(string name) => Columns.IndexOf(name);
}

/// <summary>An ErrorResponse or NoticeResponse: its SQLSTATE, message, and every field as the client exposes it.</summary>
public sealed record ServerMessage(string Code, string Message, string AllFields)
{
    public override string ToString() => $"{Code} {Message}";
}

/// <summary>Everything one client received for one row.</summary>
public sealed class Received
{
    public List<ResultSet> Results { get; } = [];

    /// <summary>COPY … TO STDOUT output, one entry per COPY (binary data as hex, its UTF-8 reading in <see cref="Extra"/>).</summary>
    public List<string> Copies { get; } = [];

    public List<ServerMessage> Errors { get; } = [];

    public List<ServerMessage> Notices { get; } = [];

    public List<string> Notifications { get; } = [];

    /// <summary>Anything else the client got that is scanned, never compared: psql's whole output, raw bytes read as UTF-8.</summary>
    public List<string> Extra { get; } = [];

    /// <summary>The client could not run at all (no connection, crashed): a harness or gateway breakage, never a pass.</summary>
    public string? ClientFailure { get; set; }

    /// <summary>Binary values the client could not decode (an invalid masked value breaks a driver).</summary>
    public List<string> Undecodable { get; } = [];

    public bool Succeeded => Errors.Count == 0 && ClientFailure is null;

    /// <summary>Every text that reached the client, with where it was; values of each column concatenated too (a value spread over rows).</summary>
    public IEnumerable<(string Where, string Text)> Texts()
    {
        for (int r = 0; r < Results.Count; r++)
        {
            var set = Results[r];
            foreach (var row in set.Rows)
            {
                for (int c = 0; c < row.Length; c++)
                {
                    if (row[c] is { } value)
                    {
                        yield return ($"result {r + 1} column {Name(set, c)}", value);
                    }
                }
            }

            for (int c = 0; c < set.Columns.Count; c++)
            {
                yield return ($"result {r + 1} column {Name(set, c)}, all rows concatenated", string.Concat(set.Rows.Select(row => c < row.Length ? row[c] : null)));
            }
        }

        foreach (var copy in Copies)
        {
            yield return ("COPY output", copy);
        }

        foreach (var error in Errors)
        {
            yield return ("error " + error.Code, error.AllFields);
        }

        foreach (var notice in Notices)
        {
            yield return ("notice " + notice.Code, notice.AllFields);
        }

        foreach (var notification in Notifications)
        {
            yield return ("notification", notification);
        }

        foreach (var extra in Extra)
        {
            yield return ("client output", extra);
        }

        if (ClientFailure is not null)
        {
            yield return ("client failure", ClientFailure);
        }
    }

    private static string Name(ResultSet set, int c) => c < set.Columns.Count ? set.Columns[c] : "#" + c;

    /// <summary>Results and COPY output as one text, for rows compared byte for byte.</summary>
    public string Transcript()
    {
        var text = new StringBuilder();
        foreach (var set in Results)
        {
            text.Append("columns ").AppendJoin(" | ", set.Columns).Append('\n');
            foreach (var row in set.Rows)
            {
                text.AppendJoin(" | ", row.Select(v => v ?? "<null>")).Append('\n');
            }
        }

        foreach (var copy in Copies)
        {
            text.Append("copy\n").Append(copy).Append('\n');
        }

        return text.ToString();
    }

    public override string ToString()
    {
        var parts = new List<string>();
        if (ClientFailure is not null)
        {
            parts.Add("client failure: " + ClientFailure);
        }

        parts.AddRange(Errors.Select(e => $"ERROR {e.Code} {Short(e.Message)}"));
        parts.AddRange(Results.Select(s => $"{s.Rows.Count} row(s) [{string.Join(", ", s.Columns)}]" +
            (s.Rows.Count > 0 ? " first: (" + string.Join(", ", s.Rows[0].Select(v => Short(v ?? "<null>", 40))) + ")" : "")));
        parts.AddRange(Copies.Select(c => $"COPY {c.Length} chars: {Short(c, 80)}"));
        parts.AddRange(Notifications.Select(n => "notification " + Short(n)));
        parts.AddRange(Notices.Select(n => "notice " + Short(n.Message)));
        return parts.Count == 0 ? "(nothing)" : string.Join("; ", parts);
    }

    public static string Short(string text, int max = 160) =>
        (text.Length > max ? text[..max] + "…" : text).ReplaceLineEndings("⏎");
}

/// <summary>Runs a row's steps with one client, through the gateway with a grant or directly on PostgreSQL (grant null).</summary>
public static class MaskingClients
{
    private const string StepMarker = "<<<gatehouse-masking-step>>>";
    private const string NullMarker = "␀null␀";

    public static Task<Received> RunAsync(MaskingFixture fixture, MaskClient client, MaskGrant? grant, IReadOnlyList<MaskStep> steps) => client switch
    {
        MaskClient.Psql => PsqlAsync(fixture, grant, steps),
        MaskClient.NpgsqlText => NpgsqlAsync(fixture, grant, steps, text: true, prepared: false),
        MaskClient.NpgsqlBinary => NpgsqlAsync(fixture, grant, steps, text: false, prepared: false),
        MaskClient.NpgsqlPrepared => NpgsqlAsync(fixture, grant, steps, text: false, prepared: true),
        MaskClient.Node => NodeAsync(fixture, grant, steps),
        MaskClient.RawText => RawAsync(fixture, grant, steps, binary: false),
        MaskClient.RawBinary => RawAsync(fixture, grant, steps, binary: true),
        MaskClient.RawSimple => RawAsync(fixture, grant, steps, binary: null),
        _ => throw new ArgumentOutOfRangeException(nameof(client), client, "one client at a time"),
    };

    // ---- psql --------------------------------------------------------------------------------------------------

    private static readonly Regex PsqlError = new(@"^(?:psql:[^:]*:\d+: )?(ERROR|FATAL|WARNING|NOTICE|INFO|LOG):\s+(?:([0-9A-Z]{5}): )?(.*)$", RegexOptions.CultureInvariant);

    private static readonly Regex PsqlNotification = new(@"^Asynchronous notification ""[^""]*"" (?:with payload ""(.*)"" )?received from server process with PID \d+\.$", RegexOptions.CultureInvariant | RegexOptions.Singleline);

    private static async Task<Received> PsqlAsync(MaskingFixture fixture, MaskGrant? grant, IReadOnlyList<MaskStep> steps)
    {
        var received = new Received();
        var script = new StringBuilder($"\\set VERBOSITY verbose\n\\set SHOW_CONTEXT always\n\\pset null '{NullMarker}'\n");
        foreach (var step in steps)
        {
            if (step.Parameters is not null)
            {
                throw new InvalidOperationException($"psql 15 binds no parameters: leave psql out of a row with parameters ({step})");
            }

            script.Append(step.IsMeta ? step.Sql : step.Sql.TrimEnd().TrimEnd(';') + ";").Append('\n').Append("\\echo ").Append(StepMarker).Append('\n');
        }

        var env = fixture.LibpqEnvironment(grant);
        env["PGCLIENTENCODING"] = "UTF8";
        ProcessRunner.Result result;
        try
        {
            result = await ProcessRunner.RunAsync(ProcessRunner.PostgresTool("psql", fixture.BinDirectory), ["-X", "-q", "--csv", "-f", "-"], env, TimeSpan.FromSeconds(30), script.ToString());
        }
        catch (TimeoutException ex)
        {
            received.ClientFailure = ex.Message;
            return received;
        }

        received.Extra.Add(result.Stdout);
        received.Extra.Add(result.Stderr);
        ReadPsqlErrors(result.Stderr, received);
        if (result.Stderr.Contains("connection to server", StringComparison.Ordinal) && result.Stderr.Contains("failed", StringComparison.Ordinal))
        {
            received.ClientFailure = "psql could not connect: " + result.Stderr.Trim();
        }

        // Each step's output ends with the marker line; every line psql prints ends with a newline (an empty line
        // is a row whose one value is empty, so only that last newline is dropped).
        var chunks = result.Stdout.Split(StepMarker + "\n");
        for (int i = 0; i < steps.Count && i < chunks.Length; i++)
        {
            string output = chunks[i].EndsWith('\n') ? chunks[i][..^1] : chunks[i];
            if (output.Length == 0)
            {
                continue;
            }

            var kept = new List<string>();
            foreach (var line in output.Split('\n'))
            {
                var notification = PsqlNotification.Match(line);
                if (notification.Success)
                {
                    received.Notifications.Add(notification.Groups[1].Value);
                }
                else
                {
                    kept.Add(line);
                }
            }

            if (kept.Count == 0)
            {
                continue;
            }

            string chunk = string.Join('\n', kept);
            if (steps[i].IsCopyOut)
            {
                received.Copies.Add(chunk + "\n");
            }
            else
            {
                received.Results.Add(ParseCsv(chunk));
            }
        }

        return received;
    }

    private static void ReadPsqlErrors(string stderr, Received received)
    {
        ServerMessage? current = null;
        var fields = new StringBuilder();
        bool isError = false;
        void Flush()
        {
            if (current is not null)
            {
                (isError ? received.Errors : received.Notices).Add(current with { AllFields = fields.ToString() });
            }

            current = null;
            fields.Clear();
        }

        foreach (var line in stderr.Split('\n'))
        {
            var match = PsqlError.Match(line);
            if (match.Success)
            {
                Flush();
                isError = match.Groups[1].Value is "ERROR" or "FATAL";
                current = new ServerMessage(match.Groups[2].Success ? match.Groups[2].Value : "?????", match.Groups[3].Value, "");
            }
            else if (current is null && line.Trim().Length > 0 && !line.StartsWith("LINE ", StringComparison.Ordinal))
            {
                // psql's own complaints (\copy failures, lost connections) are errors too.
                Flush();
                isError = true;
                current = new ServerMessage("psql", line.Trim(), "");
            }

            fields.Append(line).Append('\n');
        }

        Flush();
    }

    /// <summary>psql's CSV: a header line, then rows; quoted fields may hold commas, quotes and newlines.</summary>
    private static ResultSet ParseCsv(string text)
    {
        var set = new ResultSet();
        var fields = new List<string?>();
        var field = new StringBuilder();
        bool quoted = false, wasQuoted = false, header = true;
        void EndField()
        {
            string value = field.ToString();
            fields.Add(!wasQuoted && value == NullMarker ? null : value);
            field.Clear();
            wasQuoted = false;
        }

        void EndRow()
        {
            EndField();
            if (header)
            {
                set.Columns.AddRange(fields.Select(f => f ?? ""));
                header = false;
            }
            else
            {
                set.Rows.Add([.. fields]);
            }

            fields.Clear();
        }

        for (int i = 0; i < text.Length; i++)
        {
            char ch = text[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (ch == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(ch);
                }
            }
            else if (ch == '"')
            {
                quoted = wasQuoted = true;
            }
            else if (ch == ',')
            {
                EndField();
            }
            else if (ch == '\n')
            {
                EndRow();
            }
            else
            {
                field.Append(ch);
            }
        }

        if (text.Length > 0)
        {
            EndRow();
        }

        return set;
    }

    // ---- Npgsql ------------------------------------------------------------------------------------------------

    private static async Task<Received> NpgsqlAsync(MaskingFixture fixture, MaskGrant? grant, IReadOnlyList<MaskStep> steps, bool text, bool prepared)
    {
        var received = new Received();
        var settings = fixture.NpgsqlSettings(grant);
        if (prepared)
        {
            settings.MaxAutoPrepare = 8;
            settings.AutoPrepareMinUsages = 2;
        }

        await using var connection = new NpgsqlConnection(settings.ConnectionString);
        connection.Notice += (_, e) => received.Notices.Add(Message(e.Notice.SqlState, e.Notice.MessageText, e.Notice.Detail, e.Notice.Hint, e.Notice.Where,
            e.Notice.InternalQuery, e.Notice.SchemaName, e.Notice.TableName, e.Notice.ColumnName, e.Notice.DataTypeName, e.Notice.ConstraintName));
        connection.Notification += (_, e) => received.Notifications.Add(e.Payload);
        try
        {
            await connection.OpenAsync();
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException)
        {
            received.ClientFailure = "Npgsql could not connect: " + ex.Message;
            return received;
        }

        foreach (var step in steps)
        {
            if (step.IsMeta)
            {
                throw new InvalidOperationException($"a psql meta-command is for psql only ({step})");
            }

            try
            {
                if (step.IsCopyOut)
                {
                    await NpgsqlCopyAsync(connection, step, received);
                    continue;
                }

                await using var command = new NpgsqlCommand(step.Sql, connection) { AllResultTypesAreUnknown = text };
                foreach (var parameter in step.Parameters ?? [])
                {
                    command.Parameters.Add(Parameter(parameter));
                }

                if (prepared)
                {
                    await command.PrepareAsync();
                }

                for (int run = 0; run < (prepared ? 2 : 1); run++)
                {
                    await using var reader = await command.ExecuteReaderAsync();
                    await ReadAllAsync(reader, received, text);
                }
            }
            catch (PostgresException ex)
            {
                received.Errors.Add(Message(ex.SqlState, ex.MessageText, ex.Detail, ex.Hint, ex.Where, ex.InternalQuery, ex.SchemaName, ex.TableName,
                    ex.ColumnName, ex.DataTypeName, ex.ConstraintName));
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException or NotSupportedException or InvalidCastException or ObjectDisposedException)
            {
                received.Errors.Add(new ServerMessage("client", ex.GetType().Name + ": " + ex.Message, ex.ToString()));
                if (connection.FullState.HasFlag(System.Data.ConnectionState.Broken) || connection.State == System.Data.ConnectionState.Closed)
                {
                    break;
                }
            }
        }

        return received;
    }

    /// <summary>A positional parameter the server types from context (an integer is sent as one, anything else as unknown-typed text).</summary>
    private static NpgsqlParameter Parameter(string? value) =>
        value is null ? new NpgsqlParameter { Value = DBNull.Value }
        : int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int number) ? new NpgsqlParameter { Value = number }
        : new NpgsqlParameter { Value = value, NpgsqlDbType = NpgsqlDbType.Unknown };

    private static ServerMessage Message(string code, string message, params string?[] more) =>
        new(code, message, string.Join(" | ", new[] { code, message }.Concat(more.Where(m => !string.IsNullOrEmpty(m)))!));

    private static async Task ReadAllAsync(NpgsqlDataReader reader, Received received, bool text)
    {
        do
        {
            if (reader.FieldCount == 0)
            {
                continue;
            }

            var set = new ResultSet();
            for (int i = 0; i < reader.FieldCount; i++)
            {
                set.Columns.Add(reader.GetName(i));
            }

            received.Results.Add(set);
            while (await reader.ReadAsync())
            {
                var row = new string?[reader.FieldCount];
                for (int i = 0; i < reader.FieldCount; i++)
                {
                    row[i] = reader.IsDBNull(i) ? null : text ? reader.GetString(i) : ReadBinary(reader, i, received);
                }

                set.Rows.Add(row);
            }
        }
        while (await reader.NextResultAsync());
    }

    /// <summary>
    /// A binary value as Npgsql decodes it (GetFieldValue&lt;string&gt; for text types, GetValue otherwise), and its raw
    /// bytes as UTF-8 for the scan. A value Npgsql cannot decode is recorded: a masked value must stay valid.
    /// </summary>
    private static string ReadBinary(NpgsqlDataReader reader, int i, Received received)
    {
        try
        {
            using var stream = reader.GetStream(i);
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            received.Extra.Add(Encoding.UTF8.GetString(buffer.ToArray()));
        }
        catch (Exception ex) when (ex is InvalidCastException or NotSupportedException or InvalidOperationException)
        {
            // Not every type streams; the decoded value below is scanned anyway.
        }

        string type = reader.GetDataTypeName(i);
        try
        {
            return type is "text" or "character varying" or "character" or "name"
                ? reader.GetFieldValue<string>(i)
                : Render(reader.GetValue(i));
        }
        catch (Exception ex) when (ex is InvalidCastException or NotSupportedException or InvalidOperationException or FormatException or OverflowException
            or ArgumentException or IndexOutOfRangeException or EndOfStreamException or NpgsqlException)
        {
            received.Undecodable.Add($"{reader.GetName(i)} ({type}): {ex.GetType().Name}: {ex.Message}");
            return $"<undecodable {type}>";
        }
    }

    /// <summary>A decoded CLR value as text, the same way for the gateway and the direct run.</summary>
    public static string Render(object? value) => value switch
    {
        null or DBNull => "<null>",
        string s => s,
        byte[] bytes => "\\x" + Convert.ToHexString(bytes).ToLowerInvariant(),
        bool b => b ? "t" : "f",
        DateTime d => d.ToString("O", CultureInfo.InvariantCulture),
        DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
        object[] fields => "(" + string.Join(",", fields.Select(Render)) + ")",
        Array array => "{" + string.Join(",", array.Cast<object?>().Select(Render)) + "}",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable e and not string => "[" + string.Join(",", e.Cast<object?>().Select(Render)) + "]",
        _ => value.ToString() ?? "",
    };

    private static async Task NpgsqlCopyAsync(NpgsqlConnection connection, MaskStep step, Received received)
    {
        if (!step.IsBinaryCopy)
        {
            using var export = await connection.BeginTextExportAsync(step.Sql);
            received.Copies.Add(await export.ReadToEndAsync());
            return;
        }

        // BeginBinaryExport; every field read as bytea gives its raw bytes whatever its type.
        var copy = new StringBuilder();
        await using (var exporter = await connection.BeginBinaryExportAsync(step.Sql))
        {
            int columns;
            while ((columns = await exporter.StartRowAsync()) >= 0)
            {
                for (int i = 0; i < columns; i++)
                {
                    if (exporter.IsNull)
                    {
                        await exporter.SkipAsync();
                        copy.Append(i == 0 ? "" : "\t").Append("<null>");
                        continue;
                    }

                    var bytes = await exporter.ReadAsync<byte[]>(NpgsqlDbType.Bytea);
                    received.Extra.Add(Encoding.UTF8.GetString(bytes));
                    copy.Append(i == 0 ? "" : "\t").Append(Convert.ToHexString(bytes).ToLowerInvariant());
                }

                copy.Append('\n');
            }
        }

        received.Copies.Add(copy.ToString());
    }

    // ---- node-postgres -----------------------------------------------------------------------------------------

    private static async Task<Received> NodeAsync(MaskingFixture fixture, MaskGrant? grant, IReadOnlyList<MaskStep> steps)
    {
        var received = new Received();
        var env = fixture.LibpqEnvironment(grant);
        var request = new Dictionary<string, object?>
        {
            ["host"] = env["PGHOST"],
            ["port"] = int.Parse(env["PGPORT"], CultureInfo.InvariantCulture),
            ["database"] = env["PGDATABASE"],
            ["user"] = env["PGUSER"],
            ["password"] = env["PGPASSWORD"],
            ["steps"] = steps.Select(s =>
                s.IsMeta ? throw new InvalidOperationException($"a psql meta-command is for psql only ({s})")
                : s.IsCopyOut ? throw new InvalidOperationException($"node-postgres has no COPY without pg-copy-streams: leave node out ({s})")
                : new { sql = s.Sql, @params = s.Parameters }).ToList(),
        };
        string answer;
        try
        {
            answer = await fixture.Node.RunAsync(request, TimeSpan.FromSeconds(30));
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or IOException)
        {
            received.ClientFailure = "node-postgres: " + ex.Message;
            return received;
        }

        using var json = JsonDocument.Parse(answer);
        var root = json.RootElement;
        if (root.TryGetProperty("failure", out var failure))
        {
            received.ClientFailure = failure.GetString();
        }

        foreach (var r in root.GetProperty("results").EnumerateArray())
        {
            var set = new ResultSet();
            set.Columns.AddRange(r.GetProperty("columns").EnumerateArray().Select(c => c.GetString() ?? ""));
            foreach (var row in r.GetProperty("rows").EnumerateArray())
            {
                set.Rows.Add(row.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? null : v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText()).ToArray());
            }

            received.Results.Add(set);
        }

        foreach (var e in root.GetProperty("errors").EnumerateArray())
        {
            received.Errors.Add(NodeMessage(e));
        }

        foreach (var n in root.GetProperty("notices").EnumerateArray())
        {
            received.Notices.Add(NodeMessage(n));
        }

        received.Notifications.AddRange(root.GetProperty("notifications").EnumerateArray().Select(n => n.GetString() ?? ""));
        return received;
    }

    private static ServerMessage NodeMessage(JsonElement e)
    {
        var all = e.EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}");
        return new ServerMessage(e.TryGetProperty("code", out var c) ? c.GetString() ?? "?" : "?", e.TryGetProperty("message", out var m) ? m.GetString() ?? "" : "", string.Join(" | ", all));
    }

    // ---- raw protocol ------------------------------------------------------------------------------------------

    /// <summary>The raw client: binary results (true), named statement with text results (false), or simple Query (null).</summary>
    private static async Task<Received> RawAsync(MaskingFixture fixture, MaskGrant? grant, IReadOnlyList<MaskStep> steps, bool? binary)
    {
        var received = new Received();
        await using var raw = new RawConnection(received);
        string? failure = await raw.ConnectAsync(grant is null ? fixture.PostgresPort : fixture.Port,
            grant is null ? MaskingFixture.DirectRole : "agent", grant is null ? null : fixture.Token(grant.Value));
        if (failure is not null)
        {
            received.ClientFailure = failure;
            return received;
        }

        foreach (var step in steps)
        {
            if (step.IsMeta)
            {
                throw new InvalidOperationException($"a psql meta-command is for psql only ({step})");
            }

            bool open = binary switch
            {
                true => await raw.RunBinaryAsync(step),
                false => await raw.RunNamedTextAsync(step),
                null => await raw.RunSimpleAsync(step),
            };
            if (!open)
            {
                break;
            }
        }

        return received;
    }

    /// <summary>The smallest protocol 3.0 client that records every message a masking row cares about.</summary>
    private sealed class RawConnection(Received received) : IAsyncDisposable
    {
        private const int RowsPerExecute = 3;
        private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(15);
        private readonly TcpClient _tcp = new() { NoDelay = true };
        private NetworkStream _stream = null!;
        private ResultSet? _current;
        private bool _binaryResults;
        private List<byte>? _copy;
        private bool _copyBinary;

        public async Task<string?> ConnectAsync(int port, string user, string? password)
        {
            await _tcp.ConnectAsync("127.0.0.1", port);
            _stream = _tcp.GetStream();
            var startup = new Frame();
            startup.Int32(196608).CString("user").CString(user).CString("database").CString(TestGateway.Target).CString("client_encoding").CString("UTF8").Byte(0);
            await _stream.WriteAsync(startup.Untyped());
            while (true)
            {
                var message = await ReadAsync();
                switch (message)
                {
                    case null:
                        return "closed during startup: " + string.Join("; ", received.Errors);
                    case ('R', var payload) when BinaryPrimitives.ReadInt32BigEndian(payload) == 3 && password is not null:
                        await _stream.WriteAsync(new Frame().CString(password).Typed('p'));
                        break;
                    case ('R', var payload) when BinaryPrimitives.ReadInt32BigEndian(payload) != 0:
                        return "unsupported authentication request " + BinaryPrimitives.ReadInt32BigEndian(payload);
                    case ('E', _):
                        return "startup refused: " + string.Join("; ", received.Errors);
                    case ('Z', _):
                        return null;
                }
            }
        }

        /// <summary>One Query message with the step's whole text.</summary>
        public async Task<bool> RunSimpleAsync(MaskStep step)
        {
            if (step.Parameters is not null)
            {
                throw new InvalidOperationException($"a simple Query binds no parameters ({step})");
            }

            _binaryResults = false;
            _current = null;
            await _stream.WriteAsync(new Frame().CString(step.Sql).Typed('Q'));
            return await ReadUntilReadyAsync();
        }

        /// <summary>Parse (unnamed) + Bind with binary results + Describe portal + Execute + Sync.</summary>
        public async Task<bool> RunBinaryAsync(MaskStep step)
        {
            _binaryResults = true;
            _current = null;
            var frame = new Frame();
            Parse(frame, "", step.Sql);
            Bind(frame, "", step.Parameters, binary: true);
            frame.Byte((byte)'P').CString("").Message('D');
            frame.CString("").Int32(0).Message('E');
            frame.Message('S');
            await _stream.WriteAsync(frame.Buffer.ToArray());
            return await ReadUntilReadyAsync();
        }

        /// <summary>
        /// Parse "gh" + Describe statement + Sync; then Bind (text results, no Describe portal) + Execute 3 rows at a
        /// time with Flush until the portal completes; then Close "gh" + Sync. The DataRows come with no RowDescription.
        /// </summary>
        public async Task<bool> RunNamedTextAsync(MaskStep step)
        {
            _binaryResults = false;
            _current = null;
            var frame = new Frame();
            Parse(frame, "gh", step.Sql);
            frame.Byte((byte)'S').CString("gh").Message('D');
            frame.Message('S');
            await _stream.WriteAsync(frame.Buffer.ToArray());
            int errors = received.Errors.Count;
            if (!await ReadUntilReadyAsync())
            {
                return false;
            }

            if (received.Errors.Count > errors)
            {
                return true;
            }

            frame = new Frame();
            Bind(frame, "gh", step.Parameters, binary: false);
            frame.CString("").Int32(RowsPerExecute).Message('E');
            frame.Message('H');
            await _stream.WriteAsync(frame.Buffer.ToArray());
            while (true)
            {
                var message = await ReadAsync();
                if (message is null)
                {
                    return false;
                }

                if (message.Value.Type == 's')
                {
                    await _stream.WriteAsync(new Frame().CString("").Int32(RowsPerExecute).Message('E').Message('H').Buffer.ToArray());
                }
                else if (message.Value.Type is 'C' or 'E' or 'I' or 'Z')
                {
                    break;
                }
            }

            frame = new Frame();
            frame.Byte((byte)'S').CString("gh").Message('C');
            frame.Message('S');
            await _stream.WriteAsync(frame.Buffer.ToArray());
            return await ReadUntilReadyAsync();
        }

        private static void Parse(Frame frame, string name, string sql) =>
            frame.CString(name).CString(sql).Int16(0).Message('P');

        private static void Bind(Frame frame, string statement, string?[]? parameters, bool binary)
        {
            frame.CString("").CString(statement).Int16(0).Int16((short)(parameters?.Length ?? 0));
            foreach (var parameter in parameters ?? [])
            {
                if (parameter is null)
                {
                    frame.Int32(-1);
                }
                else
                {
                    var bytes = Encoding.UTF8.GetBytes(parameter);
                    frame.Int32(bytes.Length).Bytes(bytes);
                }
            }

            frame.Int16(1).Int16(binary ? (short)1 : (short)0).Message('B');
        }

        private async Task<bool> ReadUntilReadyAsync()
        {
            while (true)
            {
                var message = await ReadAsync();
                if (message is null)
                {
                    return false;
                }

                if (message.Value.Type == 'Z')
                {
                    return true;
                }
            }
        }

        private async Task<(char Type, byte[] Payload)?> ReadAsync()
        {
            using var timeout = new CancellationTokenSource(ReadTimeout);
            char type;
            byte[] payload;
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
                received.Errors.Add(new ServerMessage("client", ex is OperationCanceledException ? $"no answer within {ReadTimeout.TotalSeconds}s" : "connection closed: " + ex.Message, ""));
                return null;
            }

            switch (type)
            {
                case 'T':
                    _current = new ResultSet();
                    int count = BinaryPrimitives.ReadInt16BigEndian(payload);
                    int at = 2;
                    for (int i = 0; i < count; i++)
                    {
                        int end = Array.IndexOf(payload, (byte)0, at);
                        _current.Columns.Add(Encoding.UTF8.GetString(payload, at, end - at));
                        at = end + 1 + 18;
                    }

                    received.Results.Add(_current);
                    break;
                case 'D':
                    if (_current is null)
                    {
                        _current = new ResultSet();
                        received.Results.Add(_current);
                    }

                    _current.Rows.Add(DataRow(payload));
                    break;
                case 'C':
                    _current = null;
                    break;
                case 'H':
                    _copy = [];
                    _copyBinary = payload[0] == 1;
                    break;
                case 'd':
                    _copy?.AddRange(payload);
                    break;
                case 'c':
                    var bytes = _copy?.ToArray() ?? [];
                    received.Copies.Add(_copyBinary ? Convert.ToHexString(bytes).ToLowerInvariant() : Encoding.UTF8.GetString(bytes));
                    received.Extra.Add(Encoding.UTF8.GetString(bytes));
                    _copy = null;
                    break;
                case 'E':
                    received.Errors.Add(Fields(payload));
                    _current = null;
                    break;
                case 'N':
                    received.Notices.Add(Fields(payload));
                    break;
                case 'A':
                    int channelEnd = Array.IndexOf(payload, (byte)0, 4);
                    int payloadEnd = Array.IndexOf(payload, (byte)0, channelEnd + 1);
                    received.Notifications.Add(Encoding.UTF8.GetString(payload, channelEnd + 1, payloadEnd - channelEnd - 1));
                    break;
                case 'G':
                    await _stream.WriteAsync(new Frame().CString("masking tests send no data").Typed('f'));
                    break;
            }

            return (type, payload);
        }

        private string?[] DataRow(byte[] payload)
        {
            int count = BinaryPrimitives.ReadInt16BigEndian(payload);
            var values = new string?[count];
            int at = 2;
            for (int i = 0; i < count; i++)
            {
                int length = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(at));
                at += 4;
                if (length < 0)
                {
                    continue;
                }

                if (_binaryResults)
                {
                    values[i] = "\\x" + Convert.ToHexString(payload, at, length).ToLowerInvariant();
                    received.Extra.Add(Encoding.UTF8.GetString(payload, at, length));
                }
                else
                {
                    values[i] = Encoding.UTF8.GetString(payload, at, length);
                }

                at += length;
            }

            return values;
        }

        private static ServerMessage Fields(byte[] payload)
        {
            var fields = new Dictionary<char, string>();
            for (int i = 0; i < payload.Length && payload[i] != 0;)
            {
                int end = Array.IndexOf(payload, (byte)0, i + 1);
                fields[(char)payload[i]] = Encoding.UTF8.GetString(payload, i + 1, end - i - 1);
                i = end + 1;
            }

            return new ServerMessage(fields.GetValueOrDefault('C', "?????"), fields.GetValueOrDefault('M', ""),
                string.Join(" | ", fields.Select(f => $"{f.Key}={f.Value}")));
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (_tcp.Connected)
                {
                    await _stream.WriteAsync(new byte[] { (byte)'X', 0, 0, 0, 4 });
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
            {
                // Already gone.
            }

            _tcp.Dispose();
        }
    }

    /// <summary>Message bytes: the body is written first, then framed.</summary>
    private sealed class Frame
    {
        private List<byte> _body = [];

        public List<byte> Buffer { get; } = [];

        public Frame Byte(byte value)
        {
            _body.Add(value);
            return this;
        }

        public Frame Int16(short value)
        {
            _body.Add((byte)(value >> 8));
            _body.Add((byte)value);
            return this;
        }

        public Frame Int32(int value)
        {
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(bytes, value);
            _body.AddRange(bytes);
            return this;
        }

        public Frame Bytes(byte[] value)
        {
            _body.AddRange(value);
            return this;
        }

        public Frame CString(string value) => Bytes(Encoding.UTF8.GetBytes(value)).Byte(0);

        public Frame Message(char type)
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

/// <summary>
/// One long-lived node process running node-postgres for every masking row (a node start costs ~0.2 s): each request
/// is one JSON line on stdin (connection settings and steps), each answer one JSON line on stdout. Every request
/// gets its own pg.Client (extended protocol, raw text values). The process exits when its stdin closes.
/// </summary>
public sealed class NodeClientHost : IAsyncDisposable
{
    private const string Script = """
        const pg = require(process.env.GH_PG);
        const readline = require('readline');
        const keys = ['severity', 'code', 'message', 'detail', 'hint', 'position', 'internalPosition', 'internalQuery', 'where',
          'schema', 'table', 'column', 'dataType', 'constraint', 'file', 'line', 'routine'];
        const fields = (e) => Object.fromEntries(keys.filter((k) => e[k] !== undefined && e[k] !== null).map((k) => [k, String(e[k])]));
        async function run(req) {
          const out = { id: req.id, results: [], errors: [], notices: [], notifications: [] };
          const client = new pg.Client({ host: req.host, port: req.port, database: req.database, user: req.user,
            password: req.password || undefined, ssl: false, types: { getTypeParser: () => (value) => value } });
          client.on('notice', (n) => out.notices.push(fields(n)));
          client.on('notification', (n) => out.notifications.push(n.payload ?? ''));
          client.on('error', (e) => out.errors.push({ code: 'client', message: String(e && e.message) }));
          try {
            await client.connect();
          } catch (e) {
            out.failure = 'node-postgres could not connect: ' + (e && e.message);
            return out;
          }
          for (const step of req.steps) {
            try {
              const r = await client.query({ text: step.sql, values: step.params ?? undefined, rowMode: 'array', queryMode: 'extended' });
              for (const one of Array.isArray(r) ? r : [r]) {
                if (one.fields && one.fields.length > 0) out.results.push({ columns: one.fields.map((f) => f.name), rows: one.rows });
              }
            } catch (e) {
              out.errors.push(e && e.code ? fields(e) : { code: 'client', message: String(e && e.message) });
            }
          }
          await client.end().catch(() => {});
          return out;
        }
        readline.createInterface({ input: process.stdin })
          .on('line', (line) => {
            const req = JSON.parse(line);
            run(req).catch((e) => ({ id: req.id, failure: String(e && e.stack || e), results: [], errors: [], notices: [], notifications: [] }))
              .then((out) => process.stdout.write(JSON.stringify(out) + '\n'));
          })
          .on('close', () => process.exit(0));
        """;

    private readonly Process _process;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<string>> _pending = new();
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly StringBuilder _stderr = new();
    private int _next;

    private NodeClientHost(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();
        _ = ReadAnswersAsync();
    }

    public static NodeClientHost Start()
    {
        var info = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-e");
        info.ArgumentList.Add(Script);
        info.Environment["GH_PG"] = Path.Combine(ProcessRunner.RepositoryRoot(), "tests", "node", "node_modules", "pg");
        return new NodeClientHost(Process.Start(info) ?? throw new InvalidOperationException("node did not start"));
    }

    /// <summary>Sends one request (an object serialized as JSON, given an id) and returns the JSON answer.</summary>
    public async Task<string> RunAsync(Dictionary<string, object?> request, TimeSpan timeout)
    {
        int id = Interlocked.Increment(ref _next);
        var answer = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        request["id"] = id;
        await _write.WaitAsync();
        try
        {
            await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(request));
            await _process.StandardInput.FlushAsync();
        }
        finally
        {
            _write.Release();
        }

        try
        {
            return await answer.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            _pending.TryRemove(id, out _);
            throw new TimeoutException($"node-postgres gave no answer within {timeout.TotalSeconds}s; stderr: {Stderr()}");
        }
    }

    private async Task ReadAnswersAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                using var json = JsonDocument.Parse(line);
                if (_pending.TryRemove(json.RootElement.GetProperty("id").GetInt32(), out var answer))
                {
                    answer.TrySetResult(line);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or JsonException or ObjectDisposedException or InvalidOperationException)
        {
            // Reported to every waiting request below.
        }

        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var answer))
            {
                answer.TrySetException(new InvalidOperationException("the node process ended: " + Stderr()));
            }
        }
    }

    private string Stderr()
    {
        lock (_stderr)
        {
            return _stderr.ToString().Trim();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
        }

        _process.Dispose();
        _write.Dispose();
    }
}
