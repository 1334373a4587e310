using System.Text;
using Gatehouse.Pipeline;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Client → server consumer: Query and Parse go through the statement pipeline; every request the server answers
/// is entered in the ledger; FunctionCall is refused; Terminate ends the session. A refused message is replaced by
/// <see cref="RefusalStatement"/>; after a refused Parse the client's messages up to Sync are dropped, as the server
/// would skip them.
/// </summary>
internal sealed class ClientToServerPump(Stream input, Stream output, int maxMessage, StatementPipeline? pipeline, StatementLedger ledger)
    : FramePump(input, output, maxMessage)
{
    // Statement and portal names live at the start of a Bind; the parameters after them stream.
    private const int BindPrefix = 4096;

    public bool ClientTerminated { get; private set; }

    protected override FrameHandling Classify(byte code) => (FrontendMessageCode)code switch
    {
        FrontendMessageCode.FunctionCall or FrontendMessageCode.Terminate => FrameHandling.Inspect,
        FrontendMessageCode.Query or FrontendMessageCode.Parse or FrontendMessageCode.Sync or FrontendMessageCode.Describe
            or FrontendMessageCode.Execute or FrontendMessageCode.Close when pipeline is not null => FrameHandling.Inspect,
        _ => ledger.DiscardingUntilSync ? FrameHandling.Drop : FrameHandling.Pass,
    };

    protected override int PrefixLength(byte code) => code == (byte)FrontendMessageCode.Bind && pipeline is not null ? BindPrefix : 0;

    protected override void OnStreamed(byte code, ReadOnlySpan<byte> prefix, bool dropped)
    {
        if (code != (byte)FrontendMessageCode.Bind || dropped || pipeline is null)
        {
            return;
        }

        var reader = new PayloadReader(prefix[FrameHeader.Size..]);
        if (!reader.TryReadCString(out var portal) || !reader.TryReadCString(out var statement))
        {
            throw new ProtocolException($"Bind names are not terminated within the first {BindPrefix} bytes");
        }

        ledger.Expect(new(StatementLedger.Kind.Bind, Name: statement, Portal: portal));
    }

    protected override void CheckCode(byte code)
    {
        if (!Enum.IsDefined((FrontendMessageCode)code))
        {
            throw new ProtocolException($"invalid frontend message type '{StreamReads.Printable(code)}'");
        }
    }

    protected override async ValueTask<FrameVerdict> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        var type = (FrontendMessageCode)code;
        if (type == FrontendMessageCode.Terminate)
        {
            ClientTerminated = true;
            Stop();
            return FrameVerdict.Pass;
        }

        if (type == FrontendMessageCode.Sync)
        {
            ledger.DiscardingUntilSync = false;
            ledger.Expect(new(StatementLedger.Kind.Sync));
            return FrameVerdict.Pass;
        }

        if (ledger.DiscardingUntilSync)
        {
            return FrameVerdict.Drop;
        }

        var body = frame.Span[FrameHeader.Size..];
        switch (type)
        {
            case FrontendMessageCode.FunctionCall:
                // The fastpath interface calls functions by OID, around every SQL-level check.
                return RefuseQuery(Refusals.FastPath);
            case FrontendMessageCode.Query:
            {
                string sql = ReadCString(body, out _);
                var submission = await pipeline!.SubmitAsync(StatementRequest.Query(sql), ct);
                if (submission.Refusal is { } refusal)
                {
                    return RefuseQuery(refusal);
                }

                ledger.Expect(new(StatementLedger.Kind.Query, submission.Ticket));
                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Parse:
            {
                string name = ReadCString(body, out int used);
                string sql = ReadCString(body[used..], out _);
                var submission = await pipeline!.SubmitAsync(StatementRequest.Prepare(name, sql), ct);
                if (submission.Refusal is { } refusal)
                {
                    ledger.Expect(new(StatementLedger.Kind.ParseRefusal, Refusal: refusal));
                    ledger.DiscardingUntilSync = true;
                    Replace(RefusalStatement.ParseMessage.Span);
                    return FrameVerdict.Replace;
                }

                ledger.Expect(new(StatementLedger.Kind.Parse, submission.Ticket, Name: name));
                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Describe or FrontendMessageCode.Close:
            {
                if (body.Length < 2)
                {
                    throw new ProtocolException($"{type} message too short");
                }

                string name = ReadCString(body[1..], out _);
                ledger.Expect(new(type == FrontendMessageCode.Describe ? StatementLedger.Kind.Describe : StatementLedger.Kind.Close, Name: name, Target: body[0]));
                return FrameVerdict.Pass;
            }

            case FrontendMessageCode.Execute:
                ledger.Expect(new(StatementLedger.Kind.Execute, Portal: ReadCString(body, out _)));
                return FrameVerdict.Pass;
            default:
                return FrameVerdict.Pass;
        }
    }

    private FrameVerdict RefuseQuery(Refusal refusal)
    {
        ledger.Expect(new(StatementLedger.Kind.QueryRefusal, Refusal: refusal));
        Replace(RefusalStatement.QueryMessage.Span);
        return FrameVerdict.Replace;
    }

    private static string ReadCString(ReadOnlySpan<byte> bytes, out int consumed)
    {
        int terminator = bytes.IndexOf((byte)0);
        if (terminator < 0)
        {
            throw new ProtocolException("string in message is not terminated");
        }

        consumed = terminator + 1;
        return Encoding.UTF8.GetString(bytes[..terminator]);
    }
}

/// <summary>
/// Server → client consumer: rows and COPY data stream through; the responses the ledger pairs, errors,
/// ReadyForQuery and ParameterStatus are looked at. A refusal's syntax error is replaced by Gatehouse's error.
/// </summary>
internal sealed class ServerToClientPump(Stream input, Stream output, StatementPipeline? pipeline, StatementLedger ledger)
    : FramePump(input, output, 64 * 1024 * 1024)
{
    /// <summary>The server sent a FATAL error: it is about to close, and the client has been told why.</summary>
    public bool ServerSentFatal { get; private set; }

    public TransactionStatus Status { get; private set; } = TransactionStatus.Idle;

    protected override FrameHandling Classify(byte code) => (BackendMessageCode)code switch
    {
        BackendMessageCode.ReadyForQuery or BackendMessageCode.ErrorResponse => FrameHandling.Inspect,
        BackendMessageCode.ParameterStatus or BackendMessageCode.ParseComplete or BackendMessageCode.BindComplete
            or BackendMessageCode.CloseComplete or BackendMessageCode.CommandComplete or BackendMessageCode.EmptyQueryResponse
            or BackendMessageCode.PortalSuspended or BackendMessageCode.NoData or BackendMessageCode.RowDescription
            when pipeline is not null => FrameHandling.Inspect,
        _ => FrameHandling.Pass,
    };

    protected override ValueTask<FrameVerdict> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        var span = frame.Span;
        if (code == (byte)BackendMessageCode.ReadyForQuery)
        {
            Status = (TransactionStatus)span[5];
        }
        else if (code == (byte)BackendMessageCode.ParameterStatus)
        {
            var reader = new PayloadReader(span[FrameHeader.Size..]);
            if (reader.TryReadCString(out var name) && reader.TryReadCString(out var value))
            {
                pipeline!.OnServerSetting(name, value);
            }

            return ValueTask.FromResult(FrameVerdict.Pass);
        }
        else if (code == (byte)BackendMessageCode.ErrorResponse && IsFatal(span))
        {
            ServerSentFatal = true;
        }

        if (pipeline is not null && ledger.OnResponse(code, span) is { } replacement)
        {
            Replace(replacement);
            return ValueTask.FromResult(FrameVerdict.Replace);
        }

        return ValueTask.FromResult(FrameVerdict.Pass);
    }

    private static bool IsFatal(ReadOnlySpan<byte> frame)
    {
        var reader = new PayloadReader(frame[FrameHeader.Size..]);
        while (reader.TryReadByte(out byte type) && type != 0)
        {
            if (!reader.TryReadCStringBytes(out var value))
            {
                return false;
            }

            if (type == (byte)'S' || type == (byte)'V')
            {
                return value.SequenceEqual("FATAL"u8) || value.SequenceEqual("PANIC"u8);
            }
        }

        return false;
    }
}
