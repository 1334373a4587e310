using Gatehouse.Pipeline;
using System.Buffers;
using System.Text;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Client → server: statements pass the gate; FunctionCall is refused; Terminate ends the session. A refused
/// Parse is replaced by the refusal and the client's messages up to Sync are dropped, as the server would skip them.
/// </summary>
internal sealed class ClientToServerPump(Stream input, Stream output, int maxMessage, IStatementGate? gate, RefusalTracker refusals)
    : FramePump(input, output, maxMessage)
{
    public bool ClientTerminated { get; private set; }

    protected override bool Discarding => refusals.DiscardingUntilSync;

    protected override bool Inspects(byte code) => (FrontendMessageCode)code switch
    {
        FrontendMessageCode.Query or FrontendMessageCode.Parse or FrontendMessageCode.Sync => gate is not null,
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

    protected override async ValueTask<bool> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        var type = (FrontendMessageCode)code;
        if (type == FrontendMessageCode.Terminate)
        {
            Forward(frame);
            ClientTerminated = true;
            return false;
        }

        if (type == FrontendMessageCode.Sync)
        {
            refusals.DiscardingUntilSync = false;
            refusals.ExpectReady();
            Forward(frame);
            return true;
        }

        if (refusals.DiscardingUntilSync)
        {
            return true;
        }

        switch (type)
        {
            case FrontendMessageCode.FunctionCall:
                // The fastpath interface calls functions by OID, around every SQL-level check.
                refusals.Refused(SqlStates.InsufficientPrivilege, "gatehouse: the fastpath function call interface is not allowed");
                refusals.ExpectReady();
                Write(RefusalStatement.QueryMessage.Span);
                return true;
            case FrontendMessageCode.Query:
            {
                string sql = ReadCString(frame[FrameHeader.Size..], out _);
                var verdict = await gate!.OnQueryAsync(sql, ct);
                if (verdict.Forward)
                {
                    Forward(frame);
                }
                else
                {
                    refusals.Refused(verdict.SqlState, verdict.Message);
                    Write(RefusalStatement.QueryMessage.Span);
                }

                refusals.ExpectReady();
                return true;
            }

            case FrontendMessageCode.Parse:
            {
                string name = ReadCString(frame[FrameHeader.Size..], out var rest);
                string sql = ReadCString(rest, out _);
                var verdict = await gate!.OnParseAsync(name, sql, ct);
                if (verdict.Forward)
                {
                    Forward(frame);
                }
                else
                {
                    refusals.Refused(verdict.SqlState, verdict.Message);
                    Write(RefusalStatement.ParseMessage.Span);
                    refusals.DiscardingUntilSync = true;
                }

                return true;
            }

            default:
                Forward(frame);
                return true;
        }
    }

    private static string ReadCString(ReadOnlyMemory<byte> bytes, out ReadOnlyMemory<byte> rest)
    {
        int terminator = bytes.Span.IndexOf((byte)0);
        if (terminator < 0)
        {
            throw new ProtocolException("string in message is not terminated");
        }

        rest = bytes[(terminator + 1)..];
        return Encoding.UTF8.GetString(bytes.Span[..terminator]);
    }
}

/// <summary>Server → client: everything streams through; ReadyForQuery, errors and (with a gate) ParameterStatus are looked at.</summary>
internal sealed class ServerToClientPump(Stream input, Stream output, IStatementGate? gate, RefusalTracker refusals)
    : FramePump(input, output, 64 * 1024 * 1024)
{
    /// <summary>The server sent a FATAL error: it is about to close, and the client has been told why.</summary>
    public bool ServerSentFatal { get; private set; }

    public TransactionStatus Status { get; private set; } = TransactionStatus.Idle;

    protected override bool Inspects(byte code) =>
        code is (byte)BackendMessageCode.ReadyForQuery or (byte)BackendMessageCode.ErrorResponse
            || (code == (byte)BackendMessageCode.ParameterStatus && gate is not null);

    protected override ValueTask<bool> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        if (code == (byte)BackendMessageCode.ReadyForQuery)
        {
            Status = (TransactionStatus)frame.Span[5];
            refusals.Ready();
            gate?.OnReadyForQuery((char)Status);
            Forward(frame);
            return ValueTask.FromResult(true);
        }

        if (code == (byte)BackendMessageCode.ParameterStatus)
        {
            var reader = new PayloadReader(frame.Span[FrameHeader.Size..]);
            if (reader.TryReadCString(out var name) && reader.TryReadCString(out var value))
            {
                gate!.OnParameterStatus(name, value);
            }

            Forward(frame);
            return ValueTask.FromResult(true);
        }

        var error = ErrorFields.Parse(new ReadOnlySequence<byte>(frame[FrameHeader.Size..]));
        if (error.Severity is "FATAL" or "PANIC")
        {
            ServerSentFatal = true;
        }

        if (refusals.Replace(error) is { } refusal)
        {
            Write(refusal);
        }
        else
        {
            Forward(frame);
        }

        return ValueTask.FromResult(true);
    }
}
