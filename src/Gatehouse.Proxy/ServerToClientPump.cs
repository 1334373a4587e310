using System.Buffers.Binary;
using Gatehouse.Pipeline;
using Gatehouse.Pipeline.Masking;
using Gatehouse.Protocol;

namespace Gatehouse.Proxy;

/// <summary>
/// Server → client consumer: rows and COPY data stream through unless their statement has masks; the responses the
/// ledger pairs, errors, notices, ReadyForQuery and ParameterStatus are looked at. A refusal's syntax error is
/// replaced by Gatehouse's error. Rows of a masked result are gathered (up to <see cref="MaxMaskedRow"/>) and
/// rewritten; a result that cannot be masked is refused: the client gets an error and nothing more of it.
/// </summary>
internal sealed partial class ServerToClientPump(Stream input, Stream output, StatementPipeline? pipeline, StatementLedger ledger, SessionLimitWatch? limits = null,
    (int Upstream, int Client)? ownPid = null)
    : FramePump(input, output, 64 * 1024 * 1024)
{
    /// <summary>Largest DataRow Gatehouse gathers to mask; a larger one ends the result with an error (54000).</summary>
    public const int MaxMaskedRow = 16 * 1024 * 1024;

    private readonly DataRowRewriter? _rewriter = pipeline?.Masker is { } masker ? new DataRowRewriter(masker) : null;
    private ColumnPlan? _rowPlan;

    // Where the DataRow being inspected is recorded as sent (a grant with audit.results); null: not recorded.
    private ResultCapture? _rowCapture;

    // The COPY … TO STDOUT stream being masked, from its CopyOutResponse to its CopyDone.
    private CopyRewriter? _copy;

    // After a result was refused: everything up to ReadyForQuery is dropped.
    private bool _refusingResult;

    /// <summary>The server sent a FATAL error: it is about to close, and the client has been told why.</summary>
    public bool ServerSentFatal { get; private set; }

    public TransactionStatus Status { get; private set; } = TransactionStatus.Idle;

    protected override FrameHandling Classify(byte code, long total)
    {
        ledger.OnServerFrame(code);
        if (code == (byte)BackendMessageCode.ErrorResponse && total > MaxScrubbedError && pipeline is { HasMasks: true })
        {
            // Scrubbing works on whole strings: tens of megabytes of message would cost several times that in memory.
            _oversizedError = total;
            return FrameHandling.Drop;
        }

        if (_refusingResult)
        {
            // Withholding the rest of a refused result: rows, COPY data and texts go nowhere; responses the ledger pairs
            // are still looked at (and dropped) so it stays in step.
            return code is (byte)BackendMessageCode.DataRow or (byte)BackendMessageCode.CopyData or (byte)BackendMessageCode.NoticeResponse
                or (byte)BackendMessageCode.NotificationResponse ? FrameHandling.Drop : FrameHandling.Inspect;
        }

        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery or BackendMessageCode.ErrorResponse:
                return FrameHandling.Inspect;
            case BackendMessageCode.DataRow when pipeline is { HasMasks: true } or { RecordsResults: true }:
                return ClassifyRow(total);
            case BackendMessageCode.CopyOutResponse when pipeline is { HasMasks: true }:
                return FrameHandling.Inspect;
            case BackendMessageCode.CopyData or BackendMessageCode.CopyDone when _copy is not null:
                return ClassifyCopy(total);
            case BackendMessageCode.NoticeResponse or BackendMessageCode.NotificationResponse when pipeline is { HasMasks: true }:
                return total <= MaxMaskedRow ? FrameHandling.Inspect : FrameHandling.Drop;
            case BackendMessageCode.NotificationResponse when ownPid is not null:
                return FrameHandling.Inspect;
            case BackendMessageCode.ParameterStatus or BackendMessageCode.ParseComplete or BackendMessageCode.BindComplete
                or BackendMessageCode.CloseComplete or BackendMessageCode.CommandComplete or BackendMessageCode.EmptyQueryResponse
                or BackendMessageCode.PortalSuspended or BackendMessageCode.NoData or BackendMessageCode.RowDescription
                or BackendMessageCode.CopyInResponse
                when pipeline is not null:
                return FrameHandling.Inspect;
            default:
                return FrameHandling.Pass;
        }
    }

    private FrameHandling ClassifyRow(long total)
    {
        try
        {
            _rowPlan = ledger.RowPlan();
        }
        catch (MaskingException ex)
        {
            RefuseResult(ex.Message);
            return FrameHandling.Drop;
        }

        // Recorded rows are within the grant's bounds (at most 1 MB), so inspecting them whole is bounded too.
        _rowCapture = pipeline!.RecordsResults ? ledger.RowCapture(total) : null;
        if (_rowPlan is null)
        {
            return _rowCapture is null ? FrameHandling.Pass : FrameHandling.Inspect;
        }

        if (total > MaxMaskedRow || _rewriter is null)
        {
            RefuseResult(_rewriter is null ? "no masker is configured" : $"a result row of {total} bytes is larger than masking holds ({MaxMaskedRow} bytes); select fewer or narrower columns");
            return FrameHandling.Drop;
        }

        return FrameHandling.Inspect;
    }

    protected override int PrefixLength(byte code) => code == (byte)BackendMessageCode.ErrorResponse ? ErrorPrefix : 0;

    protected override bool OnStreamed(byte code, ReadOnlySpan<byte> prefix, bool dropped)
    {
        if (code == (byte)BackendMessageCode.ErrorResponse && _oversizedError > 0)
        {
            // In its place an error with the same severity and SQLSTATE, handled like any other: the ledger ends the
            // statement with it, the trail records it.
            var substitute = OversizedError(prefix, _oversizedError);
            _oversizedError = 0;
            if (OnError(substitute, scrub: false) == FrameVerdict.Pass)
            {
                Replace(substitute);
            }

            return false;
        }

        if (dropped && _pendingRefusal is { } error)
        {
            Replace(error);
            _pendingRefusal = null;
        }

        return false;
    }

    private byte[]? _pendingRefusal;

    /// <summary>Largest server error scrubbed in a session with masks; a larger one keeps only its severity and SQLSTATE.</summary>
    public const int MaxScrubbedError = 1024 * 1024;

    // Enough of an oversized error's start for its severity and SQLSTATE fields (the server sends them first).
    private const int ErrorPrefix = 256;

    // The length of the oversized error being dropped; 0 when none.
    private long _oversizedError;

    private static byte[] OversizedError(ReadOnlySpan<byte> prefix, long total)
    {
        string severity = "ERROR", code = "XX000";
        var reader = new PayloadReader(prefix[FrameHeader.Size..]);
        while (reader.TryReadByte(out byte type) && type != 0 && reader.TryReadCString(out var value))
        {
            if (type == (byte)'V' || (type == (byte)'S' && severity == "ERROR"))
            {
                severity = value is "FATAL" or "PANIC" ? value : "ERROR";
            }
            else if (type == (byte)'C' && value.Length == 5 && value.All(char.IsAsciiLetterOrDigit))
            {
                code = value;
            }
        }

        return BackendMessages.Error(code, $"[withheld: the server's message of {total} bytes is larger than Gatehouse scrubs ({MaxScrubbedError} bytes); SQLSTATE {code}]", severity);
    }

    private void RefuseResult(string why, bool denied = false)
    {
        _refusingResult = true;
        string code = denied ? "42501" : why.Contains("larger than", StringComparison.Ordinal) ? "54000" : "58000";
        _pendingRefusal = BackendMessages.Error(code, denied ? "gatehouse: denied by rule masking: " + why : "gatehouse: masking unavailable: " + why + "; the result was withheld");
    }

    protected override async ValueTask<FrameVerdict> OnFrameAsync(byte code, ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        if (code is (byte)BackendMessageCode.CommandComplete or (byte)BackendMessageCode.ReadyForQuery
            && pipeline?.Audit is { Outstanding: true } audit && await audit.BarrierAsync() is { } failure)
        {
            return AuditFailed(code, frame.Span, failure);
        }

        var span = frame.Span;
        if (code == (byte)BackendMessageCode.ErrorResponse)
        {
            return OnError(span);
        }

        if (_refusingResult && code is not ((byte)BackendMessageCode.ReadyForQuery or (byte)BackendMessageCode.ParameterStatus))
        {
            if (code == (byte)BackendMessageCode.RowDescription)
            {
                try
                {
                    await ledger.OnRowDescriptionAsync(frame, ct);
                }
                catch (MaskingException)
                {
                    // Already refusing.
                }
            }
            else if (pipeline is not null)
            {
                ledger.OnResponse(code, span);
            }

            return FrameVerdict.Drop;
        }

        switch ((BackendMessageCode)code)
        {
            case BackendMessageCode.ReadyForQuery:
                Status = (TransactionStatus)span[5];
                _refusingResult = false;
                _copy = null;
                limits?.Ready(Status);
                break;
            case BackendMessageCode.ParameterStatus:
            {
                var reader = new PayloadReader(span[FrameHeader.Size..]);
                if (reader.TryReadCString(out var name) && reader.TryReadCString(out var value))
                {
                    pipeline!.OnServerSetting(name, value);
                }

                return FrameVerdict.Pass;
            }

            case BackendMessageCode.CopyOutResponse or BackendMessageCode.CopyData or BackendMessageCode.CopyDone when pipeline is { HasMasks: true }:
                return OnCopyFrame(code, span);
            case BackendMessageCode.DataRow when _rowPlan is null:
                _rowCapture!.Add(span);
                return FrameVerdict.Pass;
            case BackendMessageCode.DataRow:
                if (_rewriter!.Rewrite(span, _rowPlan) is { } row)
                {
                    // Recorded after the mask: the bytes the client gets.
                    _rowCapture?.Add(row.Span);
                    Replace(row.Span);
                    return FrameVerdict.Replace;
                }

                RefuseResult("a row did not match its row description");
                Replace(_pendingRefusal!);
                _pendingRefusal = null;
                return FrameVerdict.Replace;
            case BackendMessageCode.RowDescription:
                try
                {
                    return await ledger.OnRowDescriptionAsync(frame, ct) ? FrameVerdict.Drop : FrameVerdict.Pass;
                }
                catch (MaskingException ex)
                {
                    RefuseResult(ex.Message, ex.Denied);
                    Replace(_pendingRefusal!);
                    _pendingRefusal = null;
                    return FrameVerdict.Replace;
                }

            case BackendMessageCode.NotificationResponse:
            {
                var own = WithClientPid(span);
                var verdict = Scrub(code, own ?? span, ledger.CurrentTicket());
                if (verdict == FrameVerdict.Pass && own is not null)
                {
                    Replace(own);
                    return FrameVerdict.Replace;
                }

                return verdict;
            }

            case BackendMessageCode.NoticeResponse:
                return Scrub(code, span, ledger.CurrentTicket());
        }

        return ToLedger(code, span);
    }

    // A response the ledger pairs with its request: it may replace or drop it.
    private FrameVerdict ToLedger(byte code, ReadOnlySpan<byte> span)
    {
        if (pipeline is not null && ledger.OnResponse(code, span) is { } replacement)
        {
            if (replacement.Length == 0)
            {
                return FrameVerdict.Drop;
            }

            Replace(replacement);
            return FrameVerdict.Replace;
        }

        return FrameVerdict.Pass;
    }

    // An ErrorResponse, read whole or put in place of one too large to scrub (which has nothing to scrub); synchronous,
    // so a dropped frame can use it.
    private FrameVerdict OnError(ReadOnlySpan<byte> span, bool scrub = true)
    {
        const byte code = (byte)BackendMessageCode.ErrorResponse;
        if (_refusingResult)
        {
            if (pipeline is not null)
            {
                ledger.OnResponse(code, span);
            }

            return FrameVerdict.Drop;
        }

        if (limits?.RewriteError(span) is { } timedOut)
        {
            ledger.OnResponse(code, span);
            Replace(timedOut);
            return FrameVerdict.Replace;
        }

        ServerSentFatal |= IsFatal(span);

        // The statement the error belongs to, before the ledger moves past it.
        var errorTicket = ledger.CurrentTicket();
        bool unattributed = errorTicket is null && ledger.ExecutesUnknownPortal();
        var verdict = ToLedger(code, span);
        return verdict == FrameVerdict.Pass && scrub && pipeline is { HasMasks: true } ? Scrub(code, span, errorTicket, unattributed) : verdict;
    }

    /// <summary>
    /// A statement record could not be written, so its result is not released: a CommandComplete becomes 58000 and the
    /// rest of the result is withheld; at a ReadyForQuery (a statement whose result was not yet reported) the error
    /// goes just before it. The session stays usable.
    /// </summary>
    private FrameVerdict AuditFailed(byte code, ReadOnlySpan<byte> frame, string failure)
    {
        pipeline!.AuditFailed(failure);
        var error = Refusals.AuditUnavailable(Refusals.AuditUnwritable + "; the result was withheld");
        if (!_refusingResult)
        {
            Replace(BackendMessages.Error(error.SqlState, error.Message));
        }

        if (code == (byte)BackendMessageCode.CommandComplete)
        {
            _refusingResult = true;
            ledger.OnResponse(code, frame);
            return FrameVerdict.Replace;
        }

        Status = (TransactionStatus)frame[5];
        _refusingResult = false;
        limits?.Ready(Status);
        ledger.OnResponse(code, frame);
        Replace(frame);
        return FrameVerdict.Replace;
    }

    /// <summary>Error and notice fields and notification payloads can quote values (a failed cast, a constraint error).</summary>
    /// <paramref name="unattributed"/>: a portal Gatehouse did not see bound is running, so what it reads is not known:
    /// its messages are withheld as a tainted statement's are.
    private FrameVerdict Scrub(byte code, ReadOnlySpan<byte> frame, StatementTicket? ticket, bool unattributed = false)
    {
        var masker = pipeline?.Masker;
        var rules = ticket?.Masks?.Rules ?? pipeline?.CurrentMaskRules;
        if (masker is null || rules is null)
        {
            return FrameVerdict.Pass;
        }

        bool tainted = (ticket?.Masks?.Tainted ?? false) || unattributed;
        var scrubbed = code == (byte)BackendMessageCode.NotificationResponse
            ? ScrubNotification(frame, masker, rules)
            : ScrubFields(frame, masker, rules, tainted);
        if (scrubbed is null)
        {
            return FrameVerdict.Pass;
        }

        Replace(scrubbed);
        return FrameVerdict.Replace;
    }

    private static void WithholdMessage(List<(byte Type, string Value)> fields, string message)
    {
        fields.RemoveAll(f => f.Type == (byte)'H');
        for (int i = 0; i < fields.Count; i++)
        {
            if (fields[i].Type == (byte)'M')
            {
                fields[i] = ((byte)'M', message);
            }
        }
    }

    private static byte[]? ScrubFields(ReadOnlySpan<byte> frame, IValueMasker masker, MaskRules rules, bool tainted)
    {
        var reader = new PayloadReader(frame[FrameHeader.Size..]);
        var fields = new List<(byte Type, string Value)>();
        bool changed = false;
        bool hadContext = false;
        string? code = null;
        while (reader.TryReadByte(out byte type) && type != 0)
        {
            if (!reader.TryReadCString(out var value))
            {
                return null;
            }

            hadContext |= type == (byte)'W';
            if (type == (byte)'C')
            {
                code = value;
            }

            // Fields that carry text from the data: message, detail, hint, context, and the internal query. In a
            // statement that reads masked data, detail, context and internal query (a failing row, a key, a JSON
            // token) are withheld whole; the message keeps its words, its quoted values redacted.
            if (tainted && type is (byte)'D' or (byte)'W' or (byte)'q' or (byte)'P' or (byte)'p')
            {
                changed = true;
                continue;
            }

            var scrubbed = type is (byte)'M' or (byte)'D' or (byte)'H' or (byte)'W' or (byte)'q' ? masker.Scrub(value, rules, tainted) : value;
            changed |= !ReferenceEquals(scrubbed, value) && scrubbed != value;
            fields.Add((type, scrubbed));
        }

        // A function's own RAISE (a notice, or an error raised in a function: it carries a context) can put any value
        // in its message, unquoted: in a tainted statement such a message is withheld whole.
        if (tainted && (frame[0] == (byte)BackendMessageCode.NoticeResponse || hadContext || code is "P0001"))
        {
            WithholdMessage(fields, "[redacted: a message raised while reading masked data]");
            changed = true;
        }
        else if (tainted && !ServerMessages.KeepsDataOut(code, fields.FirstOrDefault(f => f.Type == (byte)'M').Value))
        {
            // A data exception quotes or prints the value it failed on, and quotes an attacker added defeat any
            // reading of which part is the value: its message is withheld whole, the SQLSTATE kept.
            WithholdMessage(fields, $"[withheld: the server's message for a statement that reads masked data; SQLSTATE {code}]");
            changed = true;
        }

        if (!changed)
        {
            return null;
        }

        using var writer = new MessageWriter();
        writer.StartMessage(frame[0]);
        foreach (var (type, value) in fields)
        {
            writer.WriteByte(type).WriteCString(value);
        }

        writer.WriteByte(0).EndMessage();
        return writer.ToArray();
    }

    private static byte[]? ScrubNotification(ReadOnlySpan<byte> frame, IValueMasker masker, MaskRules rules)
    {
        var reader = new PayloadReader(frame[FrameHeader.Size..]);
        if (!reader.TryReadInt32(out var pid) || !reader.TryReadCString(out var channel) || !reader.TryReadCString(out var payload))
        {
            return null;
        }

        // A payload can carry any value (pg_notify(ch, email), a trigger): under column masks it cannot be traced, so
        // it is withheld; with detectors only, the detectors scan it.
        var scrubbed = rules.HasColumnRules ? (payload.Length == 0 ? payload : "[redacted]") : masker.Scrub(payload, rules, tainted: false);
        if (scrubbed == payload)
        {
            return null;
        }

        using var writer = new MessageWriter();
        writer.StartMessage((byte)BackendMessageCode.NotificationResponse).WriteInt32(pid).WriteCString(channel).WriteCString(scrubbed).EndMessage();
        return writer.ToArray();
    }

    /// <summary>
    /// The client was given Gatehouse's BackendKeyData pid, so a notification from its own backend carries that pid
    /// (clients tell their own notifications from others' by it). Other backends' pids pass unchanged.
    /// </summary>
    private byte[]? WithClientPid(ReadOnlySpan<byte> frame)
    {
        if (ownPid is not { } pids || frame.Length < FrameHeader.Size + 4
            || BinaryPrimitives.ReadInt32BigEndian(frame[FrameHeader.Size..]) != pids.Upstream)
        {
            return null;
        }

        var copy = frame.ToArray();
        BinaryPrimitives.WriteInt32BigEndian(copy.AsSpan(FrameHeader.Size), pids.Client);
        return copy;
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
