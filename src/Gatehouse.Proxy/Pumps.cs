using Gatehouse.Pipeline;
using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>Client → server: statements pass the gate; FunctionCall is refused; Terminate ends the session.</summary>
internal sealed class ClientToServerPump(PipeReader input, PipeWriter output, int maxMessage, IStatementGate? gate)
    : FramePump(input, output, maxMessage)
{
    public bool ClientTerminated { get; private set; }

    protected override bool Inspects(byte code) => (FrontendMessageCode)code switch
    {
        FrontendMessageCode.Query or FrontendMessageCode.Parse => gate is not null,
        FrontendMessageCode.FunctionCall or FrontendMessageCode.Terminate => true,
        _ => false,
    };

    protected override void CheckCode(byte code)
    {
        if (!Enum.IsDefined((FrontendMessageCode)code))
        {
            throw new ProtocolException($"invalid frontend message type '{StreamReads.Printable(code)}'");
        }
    }

    protected override async ValueTask<bool> OnFrameAsync(byte code, ReadOnlySequence<byte> frame, CancellationToken ct)
    {
        switch ((FrontendMessageCode)code)
        {
            case FrontendMessageCode.Terminate:
                Write(frame);
                ClientTerminated = true;
                return false;
            case FrontendMessageCode.FunctionCall:
                // The fastpath interface calls functions by OID, around every SQL-level check.
                Write(DenialStatement.QueryMessage(SqlStates.InsufficientPrivilege, "gatehouse: the fastpath function call interface is not allowed"));
                return true;
            case FrontendMessageCode.Query:
            {
                string sql = ReadCString(frame.Slice(FrameHeader.Size), out _);
                var verdict = await gate!.OnQueryAsync(sql, ct);
                WriteVerdict(verdict, frame, () => DenialStatement.QueryMessage(verdict.SqlState, verdict.Message));
                return true;
            }

            case FrontendMessageCode.Parse:
            {
                string name = ReadCString(frame.Slice(FrameHeader.Size), out var rest);
                string sql = ReadCString(rest, out _);
                var verdict = await gate!.OnParseAsync(name, sql, ct);
                WriteVerdict(verdict, frame, () => DenialStatement.ParseMessage(name, verdict.SqlState, verdict.Message));
                return true;
            }

            default:
                Write(frame);
                return true;
        }
    }

    private void WriteVerdict(GateVerdict verdict, in ReadOnlySequence<byte> frame, Func<byte[]> substitute)
    {
        if (verdict.Forward)
        {
            Write(frame);
        }
        else
        {
            Write(substitute());
        }
    }

    private static string ReadCString(ReadOnlySequence<byte> bytes, out ReadOnlySequence<byte> rest)
    {
        var terminator = bytes.PositionOf((byte)0)
            ?? throw new ProtocolException("string in message is not terminated");
        var text = bytes.Slice(0, terminator);
        rest = bytes.Slice(bytes.GetPosition(1, terminator));
        return text.IsSingleSegment ? Encoding.UTF8.GetString(text.FirstSpan) : Encoding.UTF8.GetString(text.ToArray());
    }
}

/// <summary>Server → client: everything streams through; ReadyForQuery and errors are looked at.</summary>
internal sealed class ServerToClientPump(PipeReader input, PipeWriter output, IStatementGate? gate)
    : FramePump(input, output, 64 * 1024 * 1024)
{
    /// <summary>The server sent a FATAL error: it is about to close, and the client has been told why.</summary>
    public bool ServerSentFatal { get; private set; }

    public TransactionStatus Status { get; private set; } = TransactionStatus.Idle;

    protected override bool Inspects(byte code) =>
        code is (byte)BackendMessageCode.ReadyForQuery or (byte)BackendMessageCode.ErrorResponse
            || (code == (byte)BackendMessageCode.ParameterStatus && gate is not null);

    protected override ValueTask<bool> OnFrameAsync(byte code, ReadOnlySequence<byte> frame, CancellationToken ct)
    {
        if (code == (byte)BackendMessageCode.ReadyForQuery)
        {
            Span<byte> body = stackalloc byte[6];
            frame.Slice(0, 6).CopyTo(body);
            Status = (TransactionStatus)body[5];
            gate?.OnReadyForQuery((char)Status);
            Write(frame);
            return ValueTask.FromResult(true);
        }

        if (code == (byte)BackendMessageCode.ParameterStatus)
        {
            var payload = frame.Slice(FrameHeader.Size);
            var reader = new PayloadReader(payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray());
            if (reader.TryReadCString(out var name) && reader.TryReadCString(out var value))
            {
                gate!.OnParameterStatus(name, value);
            }

            Write(frame);
            return ValueTask.FromResult(true);
        }

        var error = ErrorFields.Parse(frame.Slice(FrameHeader.Size));
        if (error.Severity is "FATAL" or "PANIC")
        {
            ServerSentFatal = true;
        }

        if (error.Message.StartsWith("gatehouse: ", StringComparison.Ordinal) && IsRefusalContext(frame))
        {
            Write(DenialStatement.CleanError(error));
        }
        else
        {
            Write(frame);
        }

        return ValueTask.FromResult(true);
    }

    private static bool IsRefusalContext(ReadOnlySequence<byte> frame)
    {
        var reader = new SequenceReader<byte>(frame.Slice(FrameHeader.Size));
        while (reader.TryRead(out byte type) && type != 0)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> value, 0))
            {
                return false;
            }

            if (type == (byte)'W')
            {
                return Encoding.UTF8.GetString(value.ToArray()).StartsWith("PL/pgSQL function inline_code_block", StringComparison.Ordinal);
            }
        }

        return false;
    }
}
